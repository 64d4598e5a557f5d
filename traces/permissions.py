"""Who may call what: ingest needs an ingest or admin token; reading, login or a read token."""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from traces.models import ApiToken

if TYPE_CHECKING:  # DRF imports its default permissions while rest_framework.views loads
    from rest_framework.views import APIView


def token_scope(request: Request) -> str | None:
    return request.auth.scope if isinstance(request.auth, ApiToken) else None


class CanRead(BasePermission):
    message = "Sign in, or send a token with the read or admin scope."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if token_scope(request) in (ApiToken.Scope.READ, ApiToken.Scope.ADMIN):
            return True
        return bool(request.user and request.user.is_authenticated)


class CanIngest(BasePermission):
    message = "Ingest needs a token with the ingest or admin scope."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        return token_scope(request) in (ApiToken.Scope.INGEST, ApiToken.Scope.ADMIN)
