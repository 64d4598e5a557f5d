from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("detection", "0003_detection_run_retries"),
    ]

    operations = [
        migrations.AddField(
            model_name="finding",
            name="rule",
            field=models.CharField(
                blank=True,
                help_text="The rule of the detector's kind that matched.",
                max_length=100,
            ),
        ),
    ]
