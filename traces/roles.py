"""The console's roles, held as Django groups: labeler, reviewer and admin.

Each role includes the ones before it: a reviewer also labels, an admin also reviews; a superuser
holds every role. They live in ``traces`` because every app imports it. A user's group names are
read once per user object (so once per request), the way Django's own permission backend caches
permissions. Views check roles themselves; templates only use them to hide what would be refused.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

LABELER = "labeler"
REVIEWER = "reviewer"
ADMIN = "admin"
ROLES: tuple[str, ...] = (LABELER, REVIEWER, ADMIN)
# The groups that grant each role.
GRANTED_BY = {LABELER: frozenset(ROLES), REVIEWER: frozenset({REVIEWER, ADMIN}), ADMIN: {ADMIN}}

_CACHE = "_tracewatch_groups"


def _groups(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    cached = getattr(user, _CACHE, None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        setattr(user, _CACHE, cached)
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, role: str) -> bool:
    """Whether a signed-in, active user holds ``role``: a superuser, or a member of a group
    that grants it."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or bool(_groups(user) & GRANTED_BY[role])


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins configure detection: superusers and members of the "admin" group."""
    return has_role(user, ADMIN)
