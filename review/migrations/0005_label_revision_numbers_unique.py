from django.conf import settings
from django.db import migrations, models


def renumber_duplicated_revisions(apps, schema_editor):
    """Labels saved at the same instant by one person on one item could share a revision number
    before the constraints: number each such item's labels again, in the order the readers
    already took (revision, then id), so every latest label stays the latest."""
    Label = apps.get_model("review", "Label")
    duplicated = (
        Label.objects.values("author", "trace", "segment", "revision")
        .annotate(copies=models.Count("id"))
        .filter(copies__gt=1)
    )
    items = {(row["author"], row["trace"], row["segment"]) for row in duplicated}
    for author, trace, segment in sorted(items, key=str):
        labels = Label.objects.filter(author=author, trace=trace, segment=segment)
        for number, label in enumerate(labels.order_by("revision", "pk"), start=1):
            if label.revision != number:
                Label.objects.filter(pk=label.pk).update(revision=number)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0004_datasets"),
        ("traces", "0004_trace_search_indexed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(renumber_duplicated_revisions, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(
                condition=models.Q(("segment__isnull", False)),
                fields=("author", "segment", "revision"),
                name="one_revision_number_per_segment_label",
            ),
        ),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(
                condition=models.Q(("segment__isnull", True)),
                fields=("author", "trace", "revision"),
                name="one_revision_number_per_trace_label",
            ),
        ),
    ]
