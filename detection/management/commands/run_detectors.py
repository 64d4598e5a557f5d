import sys
from argparse import ArgumentTypeError
from datetime import UTC, datetime, time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from detection import services
from detection.models import Detector
from traces.models import Trace
from traces.params import whole_number

# Option types raise ArgumentTypeError, which argparse turns into a usage error (exit status 2)
# and call_command into a CommandError.


def since(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        day = parse_date(value)
        if day is None:
            raise ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD) or date-time")
        parsed = datetime.combine(day, time.min)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def trace_id(value: str) -> int:
    number = whole_number(value)
    if not number:
        raise ArgumentTypeError(f"{value!r} is not a trace id")
    return number


class Command(BaseCommand):
    help = "Run detectors over stored traces in this process, for backfills."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--detector",
            action="append",
            metavar="NAME",
            help="Only this detector (repeatable); all enabled ones by default.",
        )
        parser.add_argument("--since", type=since, help="Only traces ingested since this date.")
        parser.add_argument(
            "--trace",
            type=trace_id,
            action="append",
            metavar="ID",
            help="Only this trace (repeatable).",
        )

    def handle(
        self,
        *args,
        detector: list[str] | None,
        since: datetime | None,
        trace: list[int] | None,
        **options,
    ) -> None:
        detectors = None
        if detector:
            detectors = list(Detector.objects.filter(name__in=detector))
            missing = set(detector) - {d.name for d in detectors}
            if missing:
                raise CommandError(f"--detector: no detector named {', '.join(sorted(missing))}")
        traces = Trace.objects.order_by("pk")
        if since is not None:
            traces = traces.filter(ingested_at__gte=since)
        if trace:
            traces = traces.filter(pk__in=trace)
            missing_ids = set(trace) - set(traces.values_list("pk", flat=True))
            if missing_ids:
                raise CommandError(f"--trace: no trace {', '.join(map(str, sorted(missing_ids)))}")
        ids = list(traces.values_list("pk", flat=True))
        states: dict[str, int] = {}
        disable = not sys.stderr.isatty() or options["verbosity"] == 0
        built = services.BuiltDetectors()
        for trace_id in tqdm(ids, unit="trace", disable=disable):
            state = services.detect_trace(trace_id=trace_id, detectors=detectors, built=built)
            if state is not None:
                states[state] = states.get(state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items())) or "nothing"
        self.stdout.write(f"{len(ids)} traces scanned: {summary}")
        if states.get(Trace.DetectionState.FAILED):
            raise CommandError(
                f"{states[Trace.DetectionState.FAILED]} trace(s) failed; see their detection runs"
            )
