"""Who may call what: ingest needs an ingest or admin token; reading, a role or a read token."""

from typing import TYPE_CHECKING

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from traces.models import ApiToken
from traces.roles import LABELER, has_role

if TYPE_CHECKING:  # DRF imports its default permissions while rest_framework.views loads
    from rest_framework.views import APIView


def token_scope(request: Request) -> str | None:
    return request.auth.scope if isinstance(request.auth, ApiToken) else None


class CanRead(BasePermission):
    """Traces are read by the people the console lets read them (any role), or by a read or
    admin token: signing in alone, without a role, shows nothing, as in the console."""

    message = "Sign in with a role, or send a token with the read or admin scope."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if token_scope(request) in (ApiToken.Scope.READ, ApiToken.Scope.ADMIN):
            return True
        return has_role(request.user, LABELER)


class CanIngest(BasePermission):
    message = "Ingest needs a token with the ingest or admin scope."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        return token_scope(request) in (ApiToken.Scope.INGEST, ApiToken.Scope.ADMIN)
