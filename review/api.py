"""The review side of the API: labels in and out, and labeled datasets for pipelines to pull."""

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from review import figures as precomputed
from review.agreement import INTERVAL, Figure
from review.dashboard import Agreement
from review.datasets import services as datasets
from review.datasets.download import ranged_file_response
from review.datasets.spec import SpecError, parse_spec
from review.models import Category, DatasetVersion, Label, Verdict
from review.services import LabelInput, save_label
from review.tasks import queue_export
from traces.models import ApiToken, Segment, Severity, Trace
from traces.permissions import token_scope
from traces.roles import LABELER, REVIEWER, has_role


class NotWritten(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This export is not written yet."


class CanReadLabels(BasePermission):
    """Everyone's labels: reviewers, and read or admin tokens. Labelers label blind, so the
    API does not show them others' labels."""

    message = "Reading labels and datasets needs the reviewer role or a read or admin token."

    def has_permission(self, request: Request, view: object) -> bool:
        if token_scope(request) in (ApiToken.Scope.READ, ApiToken.Scope.ADMIN):
            return True
        return has_role(request.user, REVIEWER)


class IsLabeler(BasePermission):
    message = "A label is a person's judgement: sign in as a labeler to give one."

    def has_permission(self, request: Request, view: object) -> bool:
        return has_role(request.user, LABELER)


class LabelSerializer(serializers.ModelSerializer):
    trace = serializers.PrimaryKeyRelatedField(queryset=Trace.objects.all())
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.select_related("step"), allow_null=True, required=False
    )
    category = serializers.SlugRelatedField(
        slug_field="slug",
        queryset=Category.objects.filter(active=True),
        allow_null=True,
        required=False,
    )
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    severity = serializers.ChoiceField(
        choices=Severity.choices[1:], allow_null=True, required=False
    )
    author = serializers.CharField(source="author.get_username", read_only=True)

    class Meta:
        model = Label
        fields = [
            "id",
            "trace",
            "segment",
            "verdict",
            "category",
            "severity",
            "note",
            "revision",
            "author",
            "created_at",
        ]
        read_only_fields = ["revision", "created_at"]

    def validate(self, data: dict) -> dict:
        segment = data.get("segment")
        if segment is not None and segment.step.trace_id != data["trace"].pk:
            raise ValidationError({"segment": [f"segment {segment.pk} is not in this trace"]})
        return data


class LabelPagination(CursorPagination):
    ordering = "-id"
    page_size = 100


@extend_schema(tags=["labels"])
class LabelViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Labels: every revision, newest first. Giving one takes a signed-in labeler; an edit is
    a new revision of the person's label on the item."""

    serializer_class = LabelSerializer
    pagination_class = LabelPagination
    queryset = Label.objects.select_related("author", "category")

    def get_permissions(self) -> list:
        return [IsLabeler()] if self.action == "create" else [CanReadLabels()]

    def perform_create(self, serializer: LabelSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = save_label(
            author=self.request.user,
            trace=data["trace"],
            segment=data.get("segment"),
            label=LabelInput(
                verdict=data["verdict"],
                category=data.get("category"),
                severity=data.get("severity"),
                note=data.get("note", ""),
            ),
        )


class DatasetVersionSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="dataset.name")
    progress = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "version",
            "state",
            "error",
            "filters",
            "format",
            "compression",
            "split",
            "context_steps",
            "row_count",
            "counts",
            "size",
            "sha256",
            "progress",
            "download",
            "created_at",
            "finished_at",
            "card",
        ]

    def get_progress(self, version: DatasetVersion) -> int:
        """Rows written so far while running; the row count once done."""
        if version.state == DatasetVersion.State.RUNNING:
            return datasets.rows_written(version.pk)
        return version.row_count

    def get_download(self, version: DatasetVersion) -> str | None:
        if version.state != DatasetVersion.State.DONE:
            return None
        return reverse("dataset-download", args=[version.pk], request=self.context.get("request"))


class DatasetRequestSerializer(serializers.Serializer):
    """The body of ``POST /api/v1/datasets/``: a name and, optionally, the rest of the spec."""

    name = serializers.CharField()
    filters = serializers.DictField(required=False)
    format = serializers.ChoiceField(choices=DatasetVersion.Format.choices, required=False)
    compression = serializers.ChoiceField(
        choices=DatasetVersion.Compression.choices, required=False
    )
    split = serializers.DictField(child=serializers.FloatField(), required=False)
    context_steps = serializers.IntegerField(required=False)


class DatasetPagination(CursorPagination):
    ordering = "-created_at"
    page_size = 50


@extend_schema(tags=["datasets"])
class DatasetViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Labeled datasets: request one, poll its state, download its file once done."""

    serializer_class = DatasetVersionSerializer
    pagination_class = DatasetPagination
    permission_classes = [CanReadLabels]
    parser_classes = [JSONParser]  # filters nest, which form encoding cannot say

    def get_queryset(self):
        versions = DatasetVersion.objects.select_related("dataset")
        if self.action == "list":
            versions = versions.filter(state=DatasetVersion.State.DONE)
            if name := self.request.query_params.get("name"):
                versions = versions.filter(dataset__name=name)
        return versions

    @extend_schema(
        parameters=[OpenApiParameter("name", str, description="Only this dataset's versions.")]
    )
    def list(self, request: Request, *args, **kwargs) -> Response:
        """Published versions, newest first."""
        return super().list(request, *args, **kwargs)

    @extend_schema(request=DatasetRequestSerializer, responses={202: DatasetVersionSerializer})
    def create(self, request: Request) -> Response:
        """Request an export; it is written in the background. Poll the returned ``id`` until
        its state is ``done`` (then download it) or ``failed`` (with its error)."""
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send a JSON object."]})
        try:
            spec = parse_spec(request.data)
            version = datasets.request_export(
                spec=spec,
                user=request.user,
                token=request.auth if isinstance(request.auth, ApiToken) else None,
            )
        except SpecError as error:
            raise ValidationError({error.path or "non_field_errors": [error.message]}) from None
        queue_export(version.pk)
        body = self.get_serializer(version).data
        location = reverse("dataset-detail", args=[version.pk], request=request)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": location})

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
        description="The file, streamed; a `Range: bytes=a-b` header gets that part (206).",
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str) -> HttpResponseBase:
        version = self.get_object()  # an id that is no number answers 404, as for retrieve
        if version.state != DatasetVersion.State.DONE:
            raise NotWritten(f"This export is {version.state}, not written: nothing to download.")
        return ranged_file_response(request, version)


class QualityScoreSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=["trace", "segment"])
    detector = serializers.CharField(help_text='A detector\'s name, or "(any detector)".')
    version = serializers.IntegerField(allow_null=True)
    rule = serializers.CharField(allow_null=True)
    tp = serializers.IntegerField()
    fp = serializers.IntegerField()
    fn = serializers.IntegerField()
    tn = serializers.IntegerField()
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    f1 = serializers.FloatField(allow_null=True)
    false_positive_rate = serializers.FloatField(allow_null=True)
    misses = serializers.ListField(child=serializers.URLField())
    false_positives = serializers.ListField(child=serializers.URLField())


class AsOfSerializer(serializers.Serializer):
    """When precomputed figures were computed, and whether newer ones are on their way."""

    computed_at = serializers.DateTimeField(help_text="When these figures were computed.")
    updating = serializers.BooleanField(
        help_text="Labels, decisions, findings, detectors or queues changed since; newer "
        "figures are being computed."
    )


class ComputingSerializer(serializers.Serializer):
    detail = serializers.CharField()


COMPUTING = "The figures are being computed; ask again in a moment."


def _computing() -> Response:
    """The answer while no figures have been computed yet (a new install with a worker)."""
    body = ComputingSerializer({"detail": COMPUTING}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Retry-After": "5"})


def _as_of(shown: precomputed.Shown) -> dict:
    return {"computed_at": shown.computed_at, "updating": shown.updating}


class QualitySerializer(AsOfSerializer):
    items = serializers.DictField(child=serializers.IntegerField())
    unsure = serializers.DictField(child=serializers.IntegerField())
    sources = serializers.DictField(child=serializers.IntegerField())
    scores = QualityScoreSerializer(many=True)


class DetectionQualityView(APIView):
    """Precision, recall and F1 of every detector, version and rule against the console's final
    human labels, at the trace and the segment level, with the misses and false positives as
    links to the evidence (the first 50 of each)."""

    permission_classes = [CanReadLabels]

    @extend_schema(
        tags=["detectors"],
        responses={200: QualitySerializer, 202: ComputingSerializer},
        parameters=[OpenApiParameter("detector", str, description="Only this detector.")],
    )
    def get(self, request: Request) -> Response:
        shown = precomputed.shown()
        report = shown.report()
        if report is None:
            return _computing()
        body = {**report.as_dict(), **_as_of(shown)}
        if detector := request.query_params.get("detector"):
            body["scores"] = [s for s in body["scores"] if s["detector"] == detector]
        for score in body["scores"]:
            for key in ("misses", "false_positives"):
                score[key] = [request.build_absolute_uri(ref) for ref in score[key]]
        return Response(QualitySerializer(body).data)


class FigureSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True, help_text="None when there is no figure.")
    items = serializers.IntegerField(help_text="Items labeled by two people or more behind it.")
    low = serializers.FloatField(allow_null=True)
    high = serializers.FloatField(allow_null=True)


class QueueAgreementSerializer(serializers.Serializer):
    queue = serializers.IntegerField()
    name = serializers.CharField()
    alpha = FigureSerializer()


class CategoryAgreementSerializer(serializers.Serializer):
    category = serializers.SlugField()
    name = serializers.CharField()
    alpha = FigureSerializer()


class PairAgreementSerializer(serializers.Serializer):
    labelers = serializers.ListField(child=serializers.CharField(), min_length=2, max_length=2)
    kappa = FigureSerializer()
    alpha = FigureSerializer()


class SeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))


class AgreementSerializer(AsOfSerializer):
    interval = serializers.CharField(help_text="How the 95% intervals are computed.")
    overall = FigureSerializer(help_text="Krippendorff's alpha over every item.")
    queues = QueueAgreementSerializer(many=True)
    categories = CategoryAgreementSerializer(many=True)
    pairs = PairAgreementSerializer(many=True)
    days = serializers.ListField(child=serializers.DateField())
    labels_per_day = SeriesSerializer(many=True, help_text="Latest labels per category per day.")
    burndown = SeriesSerializer(many=True, help_text="Items left per active queue per day.")
    versions = serializers.ListField(child=serializers.IntegerField())
    precision = serializers.DictField(
        child=SeriesSerializer(many=True),
        help_text="Per level (trace, segment): each detector's precision per version.",
    )


def _figure(figure: Figure | None) -> dict:
    return (figure or Figure(None, 0)).as_dict()


class AgreementView(APIView):
    """How far labelers agree (Krippendorff's alpha per queue and per category, Cohen's kappa
    per pair of labelers, each with its item count and 95% interval), labels per category per
    day, queue burn-down and detector precision per version: the agreement dashboard's figures."""

    permission_classes = [CanReadLabels]

    @extend_schema(tags=["labels"], responses={200: AgreementSerializer, 202: ComputingSerializer})
    def get(self, request: Request) -> Response:
        shown = precomputed.shown()
        figures = shown.dashboard()
        if figures is None:
            return _computing()

        def pair(row: Agreement) -> dict:
            return {
                "labelers": list(row.key),
                "kappa": _figure(row.kappa),
                "alpha": _figure(row.alpha),
            }

        body = {
            **_as_of(shown),
            "interval": INTERVAL,
            "overall": _figure(figures.overall.alpha),
            "queues": [
                {"queue": row.key, "name": row.name, "alpha": _figure(row.alpha)}
                for row in figures.queues
            ],
            "categories": [
                {"category": row.key, "name": row.name, "alpha": _figure(row.alpha)}
                for row in figures.categories
            ],
            "pairs": [pair(row) for row in figures.pairs],
            "days": figures.days,
            "labels_per_day": figures.labels_per_day,
            "burndown": figures.burndown,
            "versions": figures.versions,
            "precision": figures.precision,
        }
        return Response(AgreementSerializer(body).data)
