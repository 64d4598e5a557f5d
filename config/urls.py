from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from review.api import (
    AgreementView,
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
    path("api/v1/agreement/", AgreementView.as_view(), name="agreement"),
    # Browsers ask for /favicon.ico whatever the page links; the static file has a hashed name.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.ico"))),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("review.urls")),
]
