"""What a request may carry before any view sees it.

- **NUL characters and lone surrogates** in the path, a query parameter, a form field or a JSON
  body: PostgreSQL cannot store or even compare text holding U+0000, and UTF-8 cannot encode a
  lone surrogate, so either would end in a server error wherever the value meets the database.
  They answer 400 naming the parameter. (Ingest bodies are read raw and stored with such
  characters replaced visibly; see ``traces.sanitize``.) A cookie holding one is dropped.
- **JSON bodies nested deeper than** ``MAX_JSON_DEPTH``, which Python's JSON reader cannot read
  without running out of stack: 400.
- **Chunked bodies** (``Transfer-Encoding: chunked``, no length): Django reads them as empty, so a
  view would see a silently empty request. They answer 411, except at views that read the raw
  stream themselves (``reads_raw_body = True``), which take them from a server that hands the
  body over whole (see ``traces.api.body_source``).
"""

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from traces.sanitize import MAX_JSON_DEPTH, UNSTORABLE, find_unstorable, unstorable

LENGTH_REQUIRED = "Send the body with a Content-Length, not chunked."


def is_chunked(request: HttpRequest) -> bool:
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def reads_raw_body(view_func: Callable[..., Any]) -> bool:
    """Whether the view (a class-based view's ``view_class``, a DRF view's ``cls``) reads its
    body as a stream instead of as a form or JSON."""
    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return bool(getattr(view_class, "reads_raw_body", False))


def refusal(request: HttpRequest, status: int, detail: str, field: str = "") -> HttpResponse:
    """The answer to a screened request, JSON for the API and plain text for the console; what
    it quotes of the request is made printable first."""
    detail, field = UNSTORABLE.sub("\ufffd", detail), UNSTORABLE.sub("\ufffd", field)
    if request.path.startswith("/api/"):
        body = {"detail": detail, "field": field} if field else {"detail": detail}
        return JsonResponse(body, status=status)
    return HttpResponse(detail, status=status, content_type="text/plain; charset=utf-8")


class RequestScreeningMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if UNSTORABLE.search(request.path):
            return refusal(request, 400, unstorable("The path"))
        for name, values in request.GET.lists():
            if UNSTORABLE.search(name) or any(UNSTORABLE.search(v) for v in values):
                return refusal(request, 400, unstorable(name), name)
        # Read before the session middleware looks its cookie up in the database.
        for name in [n for n, v in request.COOKIES.items() if UNSTORABLE.search(n + v)]:
            del request.COOKIES[name]
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        if reads_raw_body(view_func) or request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        if is_chunked(request):
            return refusal(request, 411, LENGTH_REQUIRED)
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for name, values in request.POST.lists():
                if UNSTORABLE.search(name) or any(UNSTORABLE.search(v) for v in values):
                    return refusal(request, 400, unstorable(name), name)
        elif request.content_type == "application/json" or request.content_type.endswith("+json"):
            return self.screen_json(request)
        return None

    def screen_json(self, request: HttpRequest) -> HttpResponse | None:
        try:
            document = json.loads(request.body)
        except RecursionError:
            detail = f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            return refusal(request, 400, detail)
        except ValueError:
            return None  # the view's own parser says what is wrong with it
        found = find_unstorable(document)
        if found is None:
            return None
        path, deep = found
        if deep:
            return refusal(
                request, 400, f"{path}: nested more than {MAX_JSON_DEPTH} levels deep", path
            )
        return refusal(request, 400, unstorable(path or "body"), path)
