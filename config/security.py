"""The Content-Security-Policy: trace text is hostile, so no page may run inline script.

The console's own pages allow scripts, styles and connections from this origin only. The Django
admin's and the API docs' templates carry inline styles, so those pages allow inline styles, but
never inline script either.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

BASE_POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
ADMIN_POLICY = BASE_POLICY | {"style-src": "'self' 'unsafe-inline'"}


def render(policy: dict[str, str]) -> str:
    return "; ".join(f"{directive} {sources}" for directive, sources in policy.items())


THIRD_PARTY_PAGES = ("/admin/", "/api/docs/")
CONSOLE_HEADER = render(BASE_POLICY)
ADMIN_HEADER = render(ADMIN_POLICY)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            third_party = request.path.startswith(THIRD_PARTY_PAGES)
            response["Content-Security-Policy"] = ADMIN_HEADER if third_party else CONSOLE_HEADER
        return response
