from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from review.api import (
    DatasetViewSet,
    DetectionQualityView,
    FindingViewSet,
    FlagViewSet,
    LabelViewSet,
)

review_api = SimpleRouter()
review_api.register("labels", LabelViewSet, basename="label")
review_api.register("datasets", DatasetViewSet, basename="dataset")
review_api.register("findings", FindingViewSet, basename="finding")
review_api.register("flags", FlagViewSet, basename="flag")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("traces.urls")),
    path("api/v1/", include(review_api.urls)),
    path("api/v1/detectors/quality/", DetectionQualityView.as_view(), name="detection-quality"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("review.urls")),
]
