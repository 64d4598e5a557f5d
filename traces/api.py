"""The traces API: ingest one trace or a JSONL stream of them, list and read them back."""

import gzip
import io
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import IO

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import APIException, ParseError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.screening import LENGTH_REQUIRED, is_chunked
from traces.formats import format_names, inspect_ai
from traces.models import ApiToken, Trace
from traces.openapi import NATIVE_TRACE_REF
from traces.permissions import CanIngest, CanRead
from traces.selectors import filter_traces
from traces.serializers import (
    BulkIngestResultSerializer,
    IngestResultSerializer,
    TraceDetailSerializer,
    TraceFilterSerializer,
    TraceSerializer,
)
from traces.services import IngestResult, SourceResolver, ingest_documents
from traces.signals import trace_read

# Failed lines listed one by one in a bulk answer; the summary counts the rest.
LISTED_FAILURES = 100


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "too_large"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = LENGTH_REQUIRED
    default_code = "length_required"


class RawBodyParser(BaseParser):
    """Declares the media types the ingest endpoints read; the views read the raw stream."""

    media_type = "*/*"

    def parse(self, stream: IO[bytes], media_type: str | None = None, parser_context=None) -> None:
        return None


class LimitedReader(io.RawIOBase):
    """Reads at most ``limit`` bytes from a stream, then refuses with 413."""

    def __init__(self, stream: IO[bytes], limit: int, what: str) -> None:
        self.stream = stream
        self.remaining = limit
        self.limit = limit
        self.what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:
        data = self.stream.read(min(len(buffer), self.remaining + 1))
        if len(data) > self.remaining:
            raise PayloadTooLarge(f"{self.what} is larger than {self.limit} bytes.")
        self.remaining -= len(data)
        buffer[: len(data)] = data
        return len(data)


def open_body(request: Request, *, limit: int, expanded_limit: int) -> IO[bytes]:
    """The request body as a stream, gunzipped when sent with ``Content-Encoding: gzip``.

    Both the body as sent and, for gzip, what it expands to are capped as they stream, so a
    small compressed body cannot exhaust memory.
    """
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > limit:
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit}.")
    body: IO[bytes] = io.BufferedReader(LimitedReader(body_source(request), limit, "Request body"))
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding == "gzip":
        expanded = gzip.GzipFile(fileobj=body, mode="rb")
        return io.BufferedReader(LimitedReader(expanded, expanded_limit, "Decompressed body"))
    if encoding not in ("identity", ""):
        raise ParseError(f"Content-Encoding {encoding!r} is not supported; send gzip or none.")
    return body


def body_source(request: Request) -> IO[bytes]:
    """Where the body is read from. Django reads a chunked body (no length) as empty; a server
    that takes the chunks apart and marks the input as ending with the body (gunicorn's
    ``wsgi.input_terminated``) hands it over whole, and any other answers 411."""
    if not is_chunked(request._request):
        return request._request
    if not request.META.get("wsgi.input_terminated"):
        raise LengthRequired()
    return request.META["wsgi.input"]


def read_all(stream: IO[bytes]) -> bytes:
    try:
        return stream.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ParseError(f"Body is not valid gzip: {exc}") from None


def source_resolver(request: Request) -> SourceResolver:
    token: ApiToken = request.auth
    if token.scope == ApiToken.Scope.INGEST:
        return SourceResolver(fixed=token.source)
    return SourceResolver()


def ingest_options(request: Request) -> tuple[str | None, bool]:
    fmt = request.query_params.get("format") or None
    if fmt is not None and fmt not in format_names():
        raise serializers.ValidationError(
            {"format": [f"must be one of {', '.join(format_names())} (got {fmt!r})"]}
        )
    replace = request.query_params.get("replace", "false").lower()
    if replace not in ("true", "false", "1", "0"):
        raise serializers.ValidationError({"replace": ["must be true or false"]})
    return fmt, replace in ("true", "1")


RESULT_STATUS = {
    "created": status.HTTP_201_CREATED,
    "unchanged": status.HTTP_200_OK,
    "replaced": status.HTTP_200_OK,
    "conflict": status.HTTP_409_CONFLICT,
    "invalid": status.HTTP_400_BAD_REQUEST,
}

INGEST_PARAMETERS = [
    OpenApiParameter(
        "format",
        str,
        description="Format of the body; detected when absent.",
        enum=format_names(),
    ),
    OpenApiParameter(
        "replace", bool, description="Replace a different trace stored under the same id."
    ),
]


def result_body(result: IngestResult) -> dict:
    body = result.as_dict()
    if result.error is not None:
        body["detail"] = str(result.error)
    return body


class TracePagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


@extend_schema(tags=["traces"])
class TraceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Traces: list and read with login or a read token; create with an ingest token."""

    pagination_class = TracePagination
    parser_classes = [RawBodyParser]
    reads_raw_body = True

    def get_permissions(self) -> list:
        return [CanIngest()] if self.action == "create" else [CanRead()]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return TraceDetailSerializer if self.action == "retrieve" else TraceSerializer

    def get_queryset(self):
        traces = Trace.objects.select_related("source")
        if self.action == "retrieve":
            return traces.prefetch_related("steps")
        if self.action == "list":
            filters = TraceFilterSerializer(data=self.request.query_params)
            filters.is_valid(raise_exception=True)
            return filter_traces(traces, **filters.validated_data)
        return traces

    @extend_schema(parameters=[TraceFilterSerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        """One trace with its steps. Who read it is told to whoever keeps the record."""
        trace = self.get_object()
        body = self.get_serializer(trace).data
        trace_read.send(sender=Trace, trace=trace)
        return Response(body)

    @extend_schema(
        request={"application/json": NATIVE_TRACE_REF},
        parameters=INGEST_PARAMETERS,
        responses={
            201: IngestResultSerializer,
            200: IngestResultSerializer,
            400: IngestResultSerializer,
            409: IngestResultSerializer,
            411: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
        },
    )
    def create(self, request: Request) -> Response:
        """Ingest one trace. The same trace again answers 200 with the same id."""
        fmt, replace = ingest_options(request)
        limit = settings.TRACEWATCH_MAX_BODY_BYTES
        raw = read_all(open_body(request, limit=limit, expanded_limit=limit))
        if raw[:4] == b"PK\x03\x04":  # an Inspect .eval archive: its entries count expanded
            expanded = inspect_ai.expanded_size(raw)
            if expanded is not None and expanded > limit:
                raise PayloadTooLarge(
                    f"The archive expands to {expanded} bytes; the limit is {limit}. "
                    "Import larger logs with manage.py import_traces."
                )
        results = list(
            ingest_documents(
                documents=[(1, raw)],
                source_for=source_resolver(request),
                format=fmt,
                replace=replace,
            )
        )
        if len(results) == 1:
            result = results[0]
            return Response(result_body(result), status=RESULT_STATUS[result.status])
        created = any(r.status == "created" for r in results)
        return Response(
            {"results": [result_body(r) for r in results]},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


def numbered_lines(
    stream: IO[bytes], *, max_line: int, max_lines: int
) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers; a line over ``max_line`` bytes, or more than
    ``max_lines`` lines (blank ones too, which cost as much to read), are refused."""
    number = 0
    try:
        while line := stream.readline(max_line + 1):
            number += 1
            if number > max_lines:
                raise PayloadTooLarge(f"The body has more than {max_lines} lines.")
            if len(line) > max_line and not line.endswith(b"\n"):
                raise PayloadTooLarge(f"Line {number} is longer than {max_line} bytes.")
            if line.strip():
                yield number, line
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ParseError(f"Body is not valid gzip after line {number}: {exc}") from None


@extend_schema(tags=["traces"])
class BulkIngestView(APIView):
    """Ingest a JSONL stream (``application/x-ndjson``, optionally gzip-encoded).

    Each non-blank line is one document. Good lines are stored even when others fail; the answer
    has one result per trace with its line number, and for failed ones the first
    ``LISTED_FAILURES`` only (the summary counts them all), so that the answer stays small
    whatever is sent. Results of lines already stored are kept when the stream breaks off (bad
    gzip, a size or line limit), and the answer says where it stopped.
    """

    permission_classes = [CanIngest]
    parser_classes = [RawBodyParser]
    reads_raw_body = True

    @extend_schema(
        request={"application/x-ndjson": {"type": "string", "format": "binary"}},
        parameters=INGEST_PARAMETERS,
        responses={
            200: BulkIngestResultSerializer,
            400: OpenApiTypes.OBJECT,
            411: OpenApiTypes.OBJECT,
            413: OpenApiTypes.OBJECT,
        },
    )
    def post(self, request: Request) -> Response:
        fmt, replace = ingest_options(request)
        stream = open_body(
            request,
            limit=settings.TRACEWATCH_MAX_BULK_BYTES,
            expanded_limit=settings.TRACEWATCH_MAX_BULK_DECOMPRESSED_BYTES,
        )
        listed: list[dict] = []
        summary: Counter[str] = Counter()
        failures = last = 0
        body: dict = {}
        code = status.HTTP_200_OK
        try:
            for result in ingest_documents(
                documents=numbered_lines(
                    stream,
                    max_line=settings.TRACEWATCH_MAX_BODY_BYTES,
                    max_lines=settings.TRACEWATCH_MAX_BULK_LINES,
                ),
                source_for=source_resolver(request),
                format=fmt,
                replace=replace,
            ):
                summary[result.status] += 1
                last = result.line
                failures += not result.ok
                if result.ok or failures <= LISTED_FAILURES:
                    listed.append(result.as_dict())
        except APIException as exc:
            code = exc.status_code
            body["error"] = f"{exc.detail} Lines after {last} were not stored."
            body["detail"] = body["error"]
        body["results"] = listed
        body["summary"] = dict(summary)
        if failures > LISTED_FAILURES:
            body["unlisted_failures"] = failures - LISTED_FAILURES
        return Response(body, status=code)
