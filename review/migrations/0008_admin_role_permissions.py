"""What the admin role may do in the admin: the taxonomy, queues, sources and tokens, and reading
what people and ingest stored. Detectors check the role themselves (``detection.admin``).
"""

from django.db import migrations

from review.migrations._grants import admin_grants

GRANTS = {
    ("review", "category"): ("add", "change", "delete", "view"),
    ("review", "queue"): ("add", "change", "delete", "view"),
    ("review", "label"): ("view",),
    ("review", "decision"): ("view",),
    ("review", "assignment"): ("view",),
    ("review", "datasetversion"): ("view",),
    ("traces", "source"): ("add", "change", "view"),
    ("traces", "apitoken"): ("change", "view"),  # tokens are issued by a command; here revoked
    ("traces", "trace"): ("view",),
    ("traces", "step"): ("view",),
    ("traces", "segment"): ("view",),
}

grant, revoke = admin_grants(GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0007_note_limit"),
        ("traces", "0004_trace_search_indexed"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
