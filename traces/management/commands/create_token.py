from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from traces.models import ApiToken, Source
from traces.services import issue_token


class Command(BaseCommand):
    help = (
        "Create an API token and print it once. Ingest tokens are tied to a source, "
        "which is created if it does not exist."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        parser.add_argument("--source", help="Source slug (required for ingest tokens).")
        parser.add_argument("--name", default="", help="A note to recognise the token by.")

    def handle(self, *args, scope: str, source: str | None, name: str, **options) -> None:
        if scope == ApiToken.Scope.INGEST and not source:
            raise CommandError("--source is required for an ingest token")
        source_obj = None
        if source:
            field = Source._meta.get_field("slug")
            try:
                field.run_validators(source)
            except ValidationError as exc:
                raise CommandError(f"--source: {' '.join(exc.messages)}") from None
            source_obj, created = Source.objects.get_or_create(slug=source)
            if created:
                self.stderr.write(f"Created source {source!r}.")
        _, raw = issue_token(scope=scope, source=source_obj, name=name)
        self.stderr.write(
            f"New {scope} token{f' for source {source!r}' if source else ''}. "
            "It is shown only this once; send it as 'Authorization: Bearer <token>'."
        )
        self.stdout.write(raw)
