from django.urls import include, path
from rest_framework.routers import DefaultRouter

from traces.api import BulkIngestView, TraceViewSet

router = DefaultRouter()
router.register("traces", TraceViewSet, basename="trace")

urlpatterns = [
    path("traces/bulk", BulkIngestView.as_view(), name="trace-bulk"),
    path("", include(router.urls)),
]
