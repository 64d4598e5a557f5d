import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

import traces
from config.devenv import FILE_NAME as DEV_ENV
from review.models import Queue
from traces.roles import ADMIN, LABELER, REVIEWER

DEMO_TRACES = Path(traces.__file__).resolve().parent / "demo" / "traces.jsonl"
DEMO_SOURCE = "demo"
DEMO_USERS = [(LABELER, "labeler"), (REVIEWER, "reviewer"), (ADMIN, "admin")]


class Command(BaseCommand):
    help = (
        "Load the demo traces, a demo queue and one user of each role; print their logins "
        "(kept in var/demo-logins.txt) and where the console is. With DEBUG on, record it in "
        "var/dev.env for later commands. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--address",
            default="127.0.0.1:8000",
            help="Where the console will be served ([host:]port, as runserver takes it), to print.",
        )

    def handle(self, *args, address: str, **options) -> None:
        call_command("import_traces", str(DEMO_TRACES), source=DEMO_SOURCE, verbosity=0)
        Queue.objects.get_or_create(
            name="Flagged by detectors",
            defaults={
                "description": "Every segment a detector flagged, most severe first.",
                "overlap": 2,
            },
        )
        for role, username, password in self.logins():
            self.stdout.write(f"Demo login ({role}): {username} / {password}")
        if settings.DEBUG:
            self.record_dev_env()
        host_port = f"127.0.0.1:{address}" if address.isdigit() else address
        self.stdout.write(f"Tracewatch is at http://{host_port}/ (stop with Ctrl-C)")

    def record_dev_env(self) -> None:
        """Write ``var/dev.env``, which ``manage.py`` reads (see ``config.devenv``), so that the
        README's commands run on this console as written, without setting DEBUG again."""
        path = Path(settings.VAR_DIR) / DEV_ENV
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "# Written by manage.py setup_demo: the local console's settings.\nDEBUG=1\n"
        )

    def logins(self) -> list[tuple[str, str, str]]:
        """The demo users, made (or remade) when missing, with their passwords."""
        path = Path(settings.VAR_DIR) / "demo-logins.txt"
        saved = {}
        if path.exists():
            saved = {line.split()[1]: line.split() for line in path.read_text().splitlines()}
        User = get_user_model()
        logins = []
        for role, username in DEMO_USERS:
            user = User.objects.filter(username=username).first() or User(username=username)
            if user.pk is None or username not in saved:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
            else:
                password = saved[username][2]
            # An ordinary member of its role's group, as real users are: the demo admin reaches
            # the admin through the role, so what the role cannot do shows here too.
            user.is_staff = user.is_superuser = False
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            logins.append((role, username, password))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{r} {u} {p}\n" for r, u, p in logins))
        path.chmod(0o600)
        return logins
