"""Bearer-token authentication for the API: ``Authorization: Bearer tw_...``."""

from datetime import timedelta

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from traces.models import ApiToken, hash_token

LAST_USED_PRECISION = timedelta(minutes=1)


class BearerTokenAuthentication(BaseAuthentication):
    """Looks a token up by its hash; the request's ``auth`` is the ApiToken."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        raw = parts[1].decode("ascii", errors="replace")
        token = (
            ApiToken.objects.select_related("source")
            .filter(key_hash=hash_token(raw), revoked=False)
            .first()
        )
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_PRECISION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return AnonymousUser(), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="tracewatch"'
