"""The Django admin, installed with Tracewatch's own site (``config.admin_site``)."""

from django.contrib.admin.apps import AdminConfig


class TracewatchAdminConfig(AdminConfig):
    default_site = "config.admin_site.TracewatchAdminSite"
