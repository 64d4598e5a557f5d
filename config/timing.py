"""Server-Timing: how long the server spent on each request, from the outermost middleware in to
the response out, as ``Server-Timing: app;dur=12.34, cpu;dur=8.76`` (milliseconds): the time on
the clock, and the processor time the request's thread used in it.

Browsers show it in their developer tools next to the network time, and bench/viewer.py reads it
to tell a request's server time from time spent waiting for a free worker; the gap between the
two figures is time spent waiting for the database or for a processor. Streamed bodies are sent
after it is measured.
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class ServerTimingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started, cpu_started = time.perf_counter(), time.thread_time()
        response = self.get_response(request)
        wall = (time.perf_counter() - started) * 1000
        cpu = (time.thread_time() - cpu_started) * 1000
        response["Server-Timing"] = f"app;dur={wall:.2f}, cpu;dur={cpu:.2f}"
        return response
