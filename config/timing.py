"""Server-Timing: how long the server spent on each request, from the outermost middleware in to
the response out, as ``Server-Timing: app;dur=12.3`` (milliseconds).

Browsers show it in their developer tools next to the network time, and bench/viewer.py reads it
to tell a request's server time from time spent waiting for a free worker. Streamed bodies are
sent after it is measured.
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response
