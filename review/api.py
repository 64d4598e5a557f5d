"""The review side of the API: labels in and out, and labeled datasets for pipelines to pull."""

import math

from django.db.models import F, Q, QuerySet, TextField
from django.db.models.functions import Coalesce, Substr
from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from detection.models import Finding
from review import figures as precomputed
from review.agreement import INTERVAL, Figure
from review.dashboard import Agreement
from review.datasets import services as datasets
from review.datasets.download import recorded_download
from review.datasets.spec import SpecError, parse_spec
from review.models import Category, DatasetVersion, Label, Verdict
from review.selectors import blind_traces, segments_with_final_label
from review.services import LabelInput, save_label
from review.tasks import queue_export
from traces.models import ApiToken, Segment, Severity, Trace
from traces.permissions import CanRead, token_scope
from traces.roles import LABELER, REVIEWER, has_role


class NotWritten(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This export is not written yet."


class CanReadLabels(BasePermission):
    """Everyone's labels: reviewers, and read or admin tokens. Labelers label blind, so the
    API does not show them others' labels."""

    message = "Reading labels and datasets needs the reviewer role or a read or admin token."

    def has_permission(self, request: Request, view: object) -> bool:
        if token_scope(request) in (ApiToken.Scope.READ, ApiToken.Scope.ADMIN):
            return True
        return has_role(request.user, REVIEWER)


class IsLabeler(BasePermission):
    message = "A label is a person's judgement: sign in as a labeler to give one."

    def has_permission(self, request: Request, view: object) -> bool:
        return has_role(request.user, LABELER)


class LabelSerializer(serializers.ModelSerializer):
    trace = serializers.PrimaryKeyRelatedField(queryset=Trace.objects.all())
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.select_related("step"), allow_null=True, required=False
    )
    category = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Category.objects.filter(active=True),
        allow_null=True,
        required=False,
    )
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    severity = serializers.ChoiceField(
        choices=Severity.choices[1:], allow_null=True, required=False
    )
    author = serializers.CharField(source="author.get_username", read_only=True)

    class Meta:
        model = Label
        fields = [
            "id",
            "trace",
            "segment",
            "verdict",
            "category",
            "severity",
            "note",
            "revision",
            "author",
            "created_at",
        ]
        read_only_fields = ["revision", "created_at"]

    def validate(self, data: dict) -> dict:
        segment = data.get("segment")
        if segment is not None and segment.step.trace_id != data["trace"].pk:
            raise ValidationError({"segment": [f"segment {segment.pk} is not in this trace"]})
        return data


class LabelPagination(CursorPagination):
    ordering = "-id"
    page_size = 100


@extend_schema(tags=["labels"])
class LabelViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Labels: every revision, newest first. Giving one takes a signed-in labeler; an edit is
    a new revision of the person's label on the item."""

    serializer_class = LabelSerializer
    pagination_class = LabelPagination
    queryset = Label.objects.select_related("author", "category")

    def get_permissions(self) -> list:
        return [IsLabeler()] if self.action == "create" else [CanReadLabels()]

    def perform_create(self, serializer: LabelSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = save_label(
            author=self.request.user,
            trace=data["trace"],
            segment=data.get("segment"),
            label=LabelInput(
                verdict=data["verdict"],
                category=data.get("category"),
                severity=data.get("severity"),
                note=data.get("note", ""),
            ),
        )


class DatasetVersionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="dataset.name")
    progress = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "version",
            "state",
            "error",
            "filters",
            "format",
            "compression",
            "split",
            "context_steps",
            "row_count",
            "counts",
            "size",
            "sha256",
            "progress",
            "download",
            "created_at",
            "finished_at",
            "card",
        ]

    def get_progress(self, version: DatasetVersion) -> int:
        """Rows written so far while running; the row count once done."""
        if version.state == DatasetVersion.State.RUNNING:
            return datasets.rows_written(version.pk)
        return version.row_count

    def get_download(self, version: DatasetVersion) -> str | None:
        if version.state != DatasetVersion.State.DONE:
            return None
        return reverse("dataset-download", args=[version.pk], request=self.context.get("request"))


class DatasetRequestSerializer(serializers.Serializer):
    """The body of ``POST /api/v1/datasets/``: a name and, optionally, the rest of the spec."""

    name = serializers.CharField()
    filters = serializers.DictField(required=False)
    format = serializers.ChoiceField(choices=DatasetVersion.Format.choices, required=False)
    compression = serializers.ChoiceField(
        choices=DatasetVersion.Compression.choices, required=False
    )
    split = serializers.DictField(child=serializers.FloatField(), required=False)
    context_steps = serializers.IntegerField(required=False)


class DatasetPagination(CursorPagination):
    ordering = "-created_at"
    page_size = 50


@extend_schema(tags=["datasets"])
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Labeled datasets: request one, poll its state, download its file once done."""

    serializer_class = DatasetVersionSerializer
    pagination_class = DatasetPagination
    permission_classes = [CanReadLabels]
    parser_classes = [JSONParser]  # filters nest, which form encoding cannot say

    def get_queryset(self):
        versions = DatasetVersion.objects.select_related("dataset")
        if self.action == "list":
            versions = versions.filter(state=DatasetVersion.State.DONE)
            if name := self.request.query_params.get("name"):
                versions = versions.filter(dataset__name=name)
        return versions

    @extend_schema(
        parameters=[OpenApiParameter("name", str, description="Only this dataset's versions.")]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        """Published versions, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DatasetRequestSerializer, responses={202: DatasetVersionSerializer})
    def create(self, request: Request) -> Response:
        """Request an export; it is written in the background. Poll the returned ``id`` until
        its state is ``done`` (then download it) or ``failed`` (with its error)."""
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        try:
            spec = parse_spec(request.data)
            version = datasets.request_export(
                spec=spec,
                user=request.user,
                token=request.auth if isinstance(request.auth, ApiToken) else None,
            )
        except SpecError as error:
            raise ValidationError({error.path or "non_field_errors": [error.message]}) from None
        queue_export(version.pk)
        body = self.get_serializer(version).data
        location = reverse("dataset-detail", args=[version.pk], request=request)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="The file, streamed; a `Range: bytes=a-b` header gets that part (206).",
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> HttpResponseBase:
        version = self.get_object()  # an id that is no number answers 404, as for retrieve
        if version.state != DatasetVersion.State.DONE:
            raise NotWritten(f"This export is {version.state}, not written: nothing to download.")
        return recorded_download(request, version)


class QualityScoreSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["trace", "segment"])
    detector = serializers.CharField(help_text='A detector\'s name, or "(any detector)".')
    version = serializers.IntegerField(allow_null=True)
    rule = serializers.CharField(allow_null=True)
    tp = serializers.IntegerField()
    fp = serializers.IntegerField()
    fn = serializers.IntegerField()
    tn = serializers.IntegerField()
    unsure = serializers.IntegerField(help_text="Flagged items people called unsure or tied on.")
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    false_positive_rate = serializers.FloatField(allow_null=True)
    misses = serializers.ListField(child=serializers.URLField())
    false_positives = serializers.ListField(child=serializers.URLField())


class AsOfSerializer(serializers.Serializer):
    """When precomputed figures were computed, and whether newer ones are on their way."""

    computed_at = serializers.DateTimeField(help_text="When these figures were computed.")
    updating = serializers.BooleanField(
        help_text="Labels, decisions, findings, detectors or queues changed since; newer "
        "figures are being computed."
    )


class ComputingSerializer(serializers.Serializer):
    detail = serializers.CharField()


COMPUTING = "The figures are being computed; ask again in a moment."


def _computing() -> Response:
    """The answer while no figures have been computed yet (a new install with a worker)."""
    body = ComputingSerializer({"detail": COMPUTING}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": "5"})


def _as_of(shown: precomputed.Shown) -> dict:
    return {"computed_at": shown.computed_at, "updating": shown.updating}


class QualitySerializer(AsOfSerializer):
    items = serializers.DictField(child=serializers.IntegerField())
    unsure = serializers.DictField(child=serializers.IntegerField())
    sources = serializers.DictField(child=serializers.IntegerField())
    scores = QualityScoreSerializer(many=True)


class DetectionQualityView(APIView):
    """Precision, recall and F1 of every detector, version and rule against the console's final
    human labels, at the trace and the segment level, with the misses and false positives as
    links to the evidence (the first 50 of each)."""

    permission_classes = [CanReadLabels]

    @extend_schema(
        tags=["detectors"],
        responses={200: QualitySerializer, 202: ComputingSerializer},
        parameters=[OpenApiParameter("detector", str, description="Only this detector.")],
    )
    def get(self, request: Request) -> Response:
        shown = precomputed.shown()
        report = shown.report()
        if report is None:
            return _computing()
        body = {**report.as_dict(), **_as_of(shown)}
        if detector := request.query_params.get("detector"):
            body["scores"] = [s for s in body["scores"] if s["detector"] == detector]
        for score in body["scores"]:
            for key in ("misses", "false_positives"):
                score[key] = [request.build_absolute_uri(ref) for ref in score[key]]
        return Response(QualitySerializer(body).data)


class FigureSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="None when there is no figure.")
    items = serializers.IntegerField(help_text="Items labeled by two people or more behind it.")
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class QueueAgreementSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    name = serializers.CharField()
    blind = serializers.BooleanField(
        help_text="Whether the queue hides the detectors until each labeler's verdict."
    )
    alpha = FigureSerializer()


class BlindAgreementSerializer(serializers.Serializer):
    hidden = FigureSerializer(help_text="Labels given in queues that hide the detectors.")
    shown = FigureSerializer(help_text="Every other label: other queues, or outside any.")


class BlindPrecisionSerializer(serializers.Serializer):
    detector = serializers.CharField()
    level = serializers.ChoiceField(choices=["trace", "segment"])
    hidden = serializers.FloatField(allow_null=True)
    hidden_items = serializers.IntegerField()
    shown = serializers.FloatField(allow_null=True)
    shown_items = serializers.IntegerField()


class CategoryAgreementSerializer(serializers.Serializer):
    category = serializers.SlugField()
    name = serializers.CharField()
    alpha = FigureSerializer()


class PairAgreementSerializer(serializers.Serializer):
    labelers = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    kappa = FigureSerializer()
    alpha = FigureSerializer()


class SeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))


class AgreementSerializer(AsOfSerializer):
    interval = serializers.CharField(help_text="How the 95% intervals are computed.")
    overall = FigureSerializer(help_text="Krippendorff's alpha over every item.")
    blind = BlindAgreementSerializer(
        help_text="Krippendorff's alpha with the detectors hidden from labelers, and shown."
    )
    queues = QueueAgreementSerializer(many=True)
    categories = CategoryAgreementSerializer(many=True)
    pairs = PairAgreementSerializer(many=True)
    days = serializers.ListField(child=serializers.DateField())
    labels_per_day = SeriesSerializer(many=True, help_text="Latest labels per category per day.")
    burndown = SeriesSerializer(many=True, help_text="Items left per active queue per day.")
    versions = serializers.ListField(child=serializers.IntegerField())
    precision = serializers.DictField(
        child=SeriesSerializer(many=True),
        help_text="Per level (trace, segment): each detector's precision per version.",
    )
    precision_blind = BlindPrecisionSerializer(
        many=True,
        help_text=(
            "Each detector's current version against the labels given with the detectors hidden, "
            "and with them shown, each item by its labels of that way without decisions."
        ),
    )


def _figure(figure: Figure | None) -> dict:
    return (figure or Figure(None, 0)).as_dict()


class AgreementView(APIView):
    """How far labelers agree (Krippendorff's alpha per queue and per category, Cohen's kappa
    per pair of labelers, each with its item count and 95% interval), labels per category per
    day, queue burn-down and detector precision per version: the agreement dashboard's figures."""

    permission_classes = [CanReadLabels]

    @extend_schema(tags=["labels"], responses={200: AgreementSerializer, 202: ComputingSerializer})
    def get(self, request: Request) -> Response:
        shown = precomputed.shown()
        figures = shown.dashboard()
        if figures is None:
            return _computing()

        def pair(row: Agreement) -> dict:
            return {
                "labelers": list(row.key),
                "kappa": _figure(row.kappa),
                "alpha": _figure(row.alpha),
            }

        body = {
            **_as_of(shown),
            "interval": INTERVAL,
            "overall": _figure(figures.overall.alpha),
            # A snapshot taken before queues could hide the detectors has no such rows yet.
            "blind": {"hidden": _figure(None), "shown": _figure(None)}
            | {row.key: _figure(row.alpha) for row in figures.blind},
            "queues": [
                {
                    "queue": row.key,
                    "name": row.name,
                    "blind": bool(row.blind),
                    "alpha": _figure(row.alpha),
                }
                for row in figures.queues
            ],
            "categories": [
                {"category": row.key, "name": row.name, "alpha": _figure(row.alpha)}
                for row in figures.categories
            ],
            "pairs": [pair(row) for row in figures.pairs],
            "days": figures.days,
            "labels_per_day": figures.labels_per_day,
            "burndown": figures.burndown,
            "versions": figures.versions,
            "precision": figures.precision,
            "precision_blind": figures.precision_blind,
        }
        return Response(AgreementSerializer(body).data)


# --- Findings and the spans people flagged, for pipelines to pull --------------------------------

# Each ``ordering`` of the findings list; the id last, so pages never overlap.
FINDING_ORDERS = {
    "severity": ("-severity", "-score", "-id"),
    "score": ("-score", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}
# Ids and versions are compared in the database, which refuses numbers past its columns' range.
LARGEST_ID = 2**63 - 1
LARGEST_VERSION = 2**31 - 1


class FindingFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/findings/``; a bad value answers 400 naming it."""

    trace = serializers.IntegerField(required=False, min_value=1, max_value=LARGEST_ID)
    detector = serializers.CharField(required=False, max_length=100, help_text="Its name.")
    detector_version = serializers.IntegerField(
        required=False, min_value=1, max_value=LARGEST_VERSION
    )
    rule = serializers.CharField(required=False, max_length=100)
    category = serializers.SlugField(required=False, max_length=64)
    min_severity = serializers.ChoiceField(
        Severity.choices, required=False, help_text="0 none, 1 low, 2 medium, 3 high, 4 critical."
    )
    min_score = serializers.FloatField(required=False, min_value=0, max_value=1)
    created_after = serializers.DateTimeField(required=False)
    current = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only findings of enabled detectors' current versions; false: the others.",
    )
    labeled = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only findings on segments with a final label (a decision, or a "
        "majority of people's latest labels); false: only those without one.",
    )
    ordering = serializers.ChoiceField(list(FINDING_ORDERS), required=False, default="severity")

    def validate_min_score(self, value: float) -> float:
        if not math.isfinite(value):
            raise ValidationError("must be a number from 0 to 1")
        return value


class FlagFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/flags/``; a bad value answers 400 naming it."""

    trace = serializers.IntegerField(required=False, min_value=1, max_value=LARGEST_ID)
    created_after = serializers.DateTimeField(required=False)
    labeled = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only spans with a final label; false: only those without one.",
    )


class FindingSerializer(serializers.ModelSerializer):
    detector = serializers.CharField(source="detector.name")
    current = serializers.SerializerMethodField()
    step = serializers.IntegerField(source="segment.step.index")
    start = serializers.IntegerField(source="segment.start", allow_null=True)
    end = serializers.IntegerField(source="segment.end", allow_null=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "trace",
            "segment",
            "step",
            "start",
            "end",
            "detector",
            "detector_version",
            "current",
            "rule",
            "category",
            "severity",
            "score",
            "rationale",
            "created_at",
        ]

    def get_current(self, finding: Finding) -> bool:
        """Whether an enabled detector's current version made it: the findings the console shows."""
        detector = finding.detector
        return detector.enabled and finding.detector_version == detector.version


class FlagSerializer(serializers.ModelSerializer):
    trace = serializers.IntegerField()
    step = serializers.IntegerField(source="step_index")
    text = serializers.CharField(help_text="The characters marked.")
    marked_by = serializers.CharField(source="created_by.get_username", allow_null=True)

    class Meta:
        model = Segment
        fields = ["id", "trace", "step", "start", "end", "text", "marked_by", "created_at"]


class FindingPagination(CursorPagination):
    """Pages in the order the request asked for (``ordering``), severity then score by default."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_ordering(self, request: Request, queryset, view) -> tuple[str, ...]:
        return FINDING_ORDERS[getattr(view, "ordering", "severity")]


class FlagPagination(CursorPagination):
    ordering = "-id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


def parse_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """The list's query parameters, checked: 400 naming the one at fault."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


def either(rows: QuerySet, condition: Q, wanted: bool | None) -> QuerySet:
    """The rows meeting ``condition`` (True), the others (False), or all of them (None)."""
    if wanted is None:
        return rows
    return rows.filter(condition) if wanted else rows.exclude(condition)


@extend_schema(tags=["findings"])
class FindingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """What the detectors found, every version's, with the exact characters that are evidence.
    Spans people marked themselves are not findings: they are listed at ``/api/v1/flags/``."""

    serializer_class = FindingSerializer
    pagination_class = FindingPagination
    permission_classes = [CanRead]

    def get_queryset(self):
        # A labeler in a queue that hides the detectors sees none of that trace's findings here
        # either, until their first verdict on it.
        findings = Finding.objects.select_related("detector", "segment__step").exclude(
            trace__in=blind_traces(self.request.user)
        )
        if self.action != "list":
            return findings
        query = parse_query(FindingFilterSerializer, self.request)
        self.ordering = query["ordering"]
        exact = {
            "trace_id": query.get("trace"),
            "detector__name": query.get("detector"),
            "detector_version": query.get("detector_version"),
            "rule": query.get("rule"),
            "category": query.get("category"),
            "severity__gte": query.get("min_severity"),
            "score__gte": query.get("min_score"),
            "created_at__gt": query.get("created_after"),
        }
        findings = findings.filter(**{k: v for k, v in exact.items() if v is not None})
        current = Q(detector__enabled=True, detector_version=F("detector__version"))
        findings = either(findings, current, query["current"])
        return either(findings, Q(segment__in=segments_with_final_label()), query["labeled"])

    @extend_schema(parameters=[FindingFilterSerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        """Findings, most severe then highest scored first (``ordering`` changes that)."""
        return super().list(request, *args, **kwargs)


@extend_schema(tags=["findings"])
class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Spans people marked in the console because no detector flagged them: the misses a
    detector should learn from. Newest first. Reviewers and read or admin tokens only: a
    labeler sees someone else's span only once they have labeled it (blind labeling)."""

    serializer_class = FlagSerializer
    pagination_class = FlagPagination
    permission_classes = [CanReadLabels]

    def get_queryset(self):
        # The marked text is cut in the database, so a page never loads whole steps.
        flags = (
            Segment.objects.filter(origin=Segment.Origin.HUMAN)
            .select_related("created_by")
            .annotate(
                trace=F("step__trace_id"),
                step_index=F("step__index"),
                text=Coalesce(
                    Substr("step__content", F("start") + 1, F("end") - F("start")),
                    "step__content",
                    output_field=TextField(),
                ),
            )
        )
        if self.action != "list":
            return flags
        query = parse_query(FlagFilterSerializer, self.request)
        if query.get("trace") is not None:
            flags = flags.filter(step__trace_id=query["trace"])
        if query.get("created_after") is not None:
            flags = flags.filter(created_at__gt=query["created_after"])
        return either(flags, Q(pk__in=segments_with_final_label()), query["labeled"])

    @extend_schema(parameters=[FlagFilterSerializer])
    def list(self, request: Request, *args, **kwargs) -> Response:
        return super().list(request, *args, **kwargs)
