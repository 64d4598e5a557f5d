"""Shapes of traces in the API's answers, and the list filters it accepts."""

from rest_framework import serializers

from traces.models import Step, Trace


class StepSerializer(serializers.ModelSerializer):
    class Meta:
        model = Step
        fields = [
            "index",
            "kind",
            "content",
            "tool",
            "call_id",
            "arguments",
            "timestamp",
            "token_count",
            "metadata",
        ]


class TraceSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    max_severity = serializers.CharField(source="get_max_severity_display", read_only=True)

    class Meta:
        model = Trace
        fields = [
            "id",
            "source",
            "external_id",
            "agent",
            "model",
            "task",
            "started_at",
            "ended_at",
            "metadata",
            "content_hash",
            "step_count",
            "altered",
            "secrets_masked",
            "detection_state",
            "review_state",
            "max_severity",
            "ingested_at",
            "updated_at",
        ]


class TraceDetailSerializer(TraceSerializer):
    steps = StepSerializer(many=True, read_only=True)

    class Meta(TraceSerializer.Meta):
        fields = [*TraceSerializer.Meta.fields, "steps"]


class TraceFilterSerializer(serializers.Serializer):
    """Query parameters of ``GET /api/v1/traces/``; bad values answer 400 naming the parameter."""

    source = serializers.SlugField(required=False)
    model = serializers.CharField(required=False)
    agent = serializers.CharField(required=False)
    detection_state = serializers.ChoiceField(Trace.DetectionState.choices, required=False)
    review_state = serializers.ChoiceField(Trace.ReviewState.choices, required=False)
    ingested_after = serializers.DateTimeField(required=False)
    ingested_before = serializers.DateTimeField(required=False)
    started_after = serializers.DateTimeField(required=False)
    started_before = serializers.DateTimeField(required=False)


class IngestResultSerializer(serializers.Serializer):
    """One trace's outcome (documents the answer; results are built by the ingest service)."""

    line = serializers.IntegerField()
    status = serializers.ChoiceField(["created", "unchanged", "replaced", "conflict", "invalid"])
    external_id = serializers.CharField(required=False)
    id = serializers.IntegerField(required=False)
    error = serializers.CharField(required=False)
    field = serializers.CharField(required=False)
    detail = serializers.CharField(required=False)


class BulkIngestResultSerializer(serializers.Serializer):
    results = IngestResultSerializer(many=True)
    summary = serializers.DictField(child=serializers.IntegerField())
    error = serializers.CharField(required=False)
    unlisted_failures = serializers.IntegerField(
        required=False, help_text="Failed lines past the first 100, counted in the summary only."
    )
