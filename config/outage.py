"""A database that is down, restarting or refusing connections answers 503 with ``Retry-After``
instead of a server error, so that an ingest pipeline or a labeler knows to send the same request
again: whatever the request had not committed is rolled back, and sending it again is safe
(ingest is idempotent on ``external_id``; a label sent twice is one more revision of the same
judgement). With ``DEBUG`` on, the error goes on to Django's debug page."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

RETRY_AFTER_SECONDS = 5
DETAIL = "The database is unavailable. Send the request again in a few seconds."

logger = logging.getLogger(__name__)


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG or not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning("%s %s: database unavailable: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": DETAIL}, status=503)
        else:
            response = HttpResponse(DETAIL, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
