from django.http import HttpRequest

from traces.roles import ROLES, has_role


def roles(request: HttpRequest) -> dict:
    """``roles.labeler``, ``roles.reviewer``, ``roles.admin`` for templates (display only: views
    check roles themselves)."""
    return {"roles": {role: has_role(request.user, role) for role in ROLES}}
