"""The admin site, open to the admin role.

Roles are groups (``traces.roles``), so membership of the "admin" group is what lets a person in,
not Django's ``is_staff`` flag kept beside it: a flag to keep in step with the group would drift
whenever a group changed without it. Staff a superuser made by hand still get in, with what their
permissions allow. What admins may do inside is granted to the group by a migration.
"""

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from traces.roles import is_admin


def may_enter(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Active admins (superusers and the "admin" group) and active staff."""
    return user.is_active and (is_admin(user) or getattr(user, "is_staff", False))


class RoleAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in, which takes the admin role as Django's takes ``is_staff``."""

    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        AuthenticationForm.confirm_login_allowed(self, user)
        if not may_enter(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class TracewatchAdminSite(admin.AdminSite):
    site_header = "Tracewatch administration"
    site_title = "Tracewatch admin"
    login_form = RoleAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_enter(request.user)
