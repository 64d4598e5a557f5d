"""The console's roles, held as Django groups: labeler, reviewer and admin.

They live in ``traces`` because every other app imports it; the review console adds the checks for
its roles here. A user's group names are read once per user object (one request), the way Django's
own permission backend caches permissions.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ADMIN = "admin"

_CACHE = "_tracewatch_roles"


def roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The role groups a signed-in, active user belongs to (none for anyone else)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, _CACHE, None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        setattr(user, _CACHE, cached)
    return cached


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins configure detection: superusers and members of the "admin" group."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or ADMIN in roles(user)
