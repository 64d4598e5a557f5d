import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_TRACES = Path(__file__).resolve().parents[2] / "demo" / "traces.jsonl"
DEMO_SOURCE = "demo"


class Command(BaseCommand):
    help = "Load the demo traces and create the demo login (kept in var/demo-logins.txt)."

    def handle(self, *args, **options) -> None:
        call_command("import_traces", str(DEMO_TRACES), source=DEMO_SOURCE, verbosity=0)
        logins = Path(settings.VAR_DIR) / "demo-logins.txt"
        User = get_user_model()
        if not logins.exists() or not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username="admin")
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            logins.parent.mkdir(parents=True, exist_ok=True)
            logins.write_text(f"admin {password}\n")
            logins.chmod(0o600)
        username, password = logins.read_text().split()
        self.stdout.write(f"Demo login: {username} / {password}")
