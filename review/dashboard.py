"""The figures of the agreement dashboard, read from the database.

Which labels count: each labeler's latest revision of each item (a segment, or a trace as a
whole), as everywhere else in the console; a reviewer's decision settles an item but is not a
rating, so it takes no part in agreement. The database does the counting (items grouped by their
pattern of verdicts, pairs of labelers by their contingency tables, days by their counts), so
Python sees a few hundred rows however many labels there are; ``review.agreement`` does the
arithmetic on them.

- Per queue: the labels whose latest revision was given in that queue.
- Per category, one against the rest: did each labeler file the item under that category (a
  misaligned or unsure verdict naming it) or not. The verdict alone would say nothing about
  categories, and grouping items by their final category would count only items most people
  called misaligned.
- Per pair of labelers: the items both labeled, their verdicts.
- With the detectors hidden or shown: the labels given in queues that hide the detectors until
  the labeler's verdict, and all the others; and each detector's precision against each set, to
  see whether seeing the detectors sways what labelers say.
"""

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from detection.evaluation import Report, Score, Unit, evaluate
from review import selectors
from review.agreement import Figure, Pattern, cohen_kappa, krippendorff_alpha
from review.models import Category, Label, Queue, Verdict
from review.quality import console_items, console_report, detector_versions
from traces.models import Segment, Trace
from traces.schema import DocumentError

VERDICTS: tuple[str, ...] = tuple(Verdict.values)
# Days shown in the charts over time, ending today.
DAYS = 30
BENIGN = "benign"
UNCATEGORISED = "(no category)"
# Labels given with the detectors hidden: in a queue that hides them until the first verdict.
HIDDEN = Q(queue__hide_detectors=True)


@dataclass(frozen=True)
class Agreement:
    """One row of an agreement table: what it covers and its figures."""

    name: str
    alpha: Figure
    kappa: Figure | None = None
    key: str | int | tuple[str, str] | None = None  # queue id, category slug, pair's usernames
    blind: bool | None = None  # labels given with the detectors hidden, or shown; None: both

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alpha": self.alpha.as_dict(),
            "kappa": None if self.kappa is None else self.kappa.as_dict(),
            "key": list(self.key) if isinstance(self.key, tuple) else self.key,
            "blind": self.blind,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Agreement":
        key = data["key"]
        kappa = data["kappa"]
        return cls(
            data["name"],
            Figure(**data["alpha"]),
            None if kappa is None else Figure(**kappa),
            tuple(key) if isinstance(key, list) else key,
            data.get("blind"),  # absent from snapshots taken before queues could hide detectors
        )


@dataclass(frozen=True)
class BlindPrecision:
    """A detector's precision at its current version on one level, against the labels given
    with the detectors hidden and against those given with them shown, each with the flagged
    items called misaligned or benign behind it."""

    detector: str
    level: str
    hidden: float | None
    hidden_items: int
    shown: float | None
    shown_items: int


@dataclass(frozen=True)
class Series:
    """A named line of a chart: one value per point of the chart's axis (None: no value)."""

    name: str
    values: list[float | None]


@dataclass
class Dashboard:
    overall: Agreement
    queues: list[Agreement]
    categories: list[Agreement]
    pairs: list[Agreement]
    days: list[date]
    labels_per_day: list[Series]
    burndown: list[Series]
    versions: list[int] = field(default_factory=list)
    precision: dict[str, list[Series]] = field(default_factory=dict)  # per level
    blind: list[Agreement] = field(default_factory=list)  # the detectors hidden, then shown
    precision_blind: list[BlindPrecision] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The figures as JSON, to be kept in a snapshot."""

        def series(lines: list[Series]) -> list[dict[str, Any]]:
            return [{"name": line.name, "values": line.values} for line in lines]

        return {
            "overall": self.overall.as_json(),
            **{name: [row.as_json() for row in getattr(self, name)] for name in ROW_LISTS},
            "days": [day.isoformat() for day in self.days],
            "labels_per_day": series(self.labels_per_day),
            "burndown": series(self.burndown),
            "versions": self.versions,
            "precision": {level: series(lines) for level, lines in self.precision.items()},
            "blind": [row.as_json() for row in self.blind],
            "precision_blind": [asdict(row) for row in self.precision_blind],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Dashboard":
        def series(lines: list[dict[str, Any]]) -> list[Series]:
            return [Series(line["name"], line["values"]) for line in lines]

        return cls(
            overall=Agreement.from_json(data["overall"]),
            **{name: [Agreement.from_json(row) for row in data[name]] for name in ROW_LISTS},
            days=[date.fromisoformat(day) for day in data["days"]],
            labels_per_day=series(data["labels_per_day"]),
            burndown=series(data["burndown"]),
            versions=data["versions"],
            # PostgreSQL's jsonb keeps keys in its own order: the trace level comes first.
            precision={
                level: series(data["precision"][level])
                for level in sorted(data["precision"], key=lambda level: level != "trace")
            },
            # Both absent from snapshots taken before queues could hide the detectors.
            blind=[Agreement.from_json(row) for row in data.get("blind", [])],
            precision_blind=[BlindPrecision(**row) for row in data.get("precision_blind", [])],
        )


# The Dashboard fields that hold rows of an agreement table.
ROW_LISTS = ("queues", "categories", "pairs")


def _query(template: str, *subqueries: QuerySet, params: tuple = ()) -> list[tuple]:
    """Run ``template`` with ``{0}``, ``{1}``… standing for the ORM's SQL of ``subqueries``: the
    grouping over groups and the self-join that the ORM cannot stack on an aggregate. Only SQL
    the ORM wrote goes into the text; every value stays a parameter."""
    compiled = [subquery.query.sql_with_params() for subquery in subqueries]
    sql = template.format(*(f"({text})" for text, _ in compiled))
    with connection.cursor() as cursor:
        cursor.execute(sql, tuple(p for _, ps in compiled for p in ps) + params)
        return cursor.fetchall()


def _grouped(rows: QuerySet, columns: Sequence[str]) -> list[tuple]:
    """``columns`` of a values() queryset with the number of its rows showing each combination."""
    names = ", ".join(connection.ops.quote_name(column) for column in columns)
    select = "SELECT " + names + ", COUNT(*) FROM {0} item GROUP BY " + names  # noqa: S608 (quoted column names)
    return _query(select, rows)


def _pattern(counts: Sequence[int]) -> Pattern:
    return tuple((verdict, n) for verdict, n in zip(VERDICTS, counts, strict=True) if n)


def _alpha(labels: QuerySet[Label]) -> Figure:
    """Alpha over every item of ``labels``."""
    counts = [f"n_{v}" for v in VERDICTS]
    rows = _grouped(selectors.item_verdict_counts(labels), counts)
    return krippendorff_alpha({_pattern(row): n for *row, n in rows})


def verdict_agreement(latest: QuerySet[Label]) -> tuple[Figure, dict[int, Figure]]:
    """Alpha over every item, and per queue over the labels given in it."""
    counts = [f"n_{v}" for v in VERDICTS]
    per_queue: dict[int, dict[Pattern, int]] = {}
    rows = _grouped(
        selectors.item_verdict_counts(latest.filter(queue__isnull=False), queue_key=F("queue")),
        ["queue_key", *counts],
    )
    for queue_id, *row, n in rows:
        per_queue.setdefault(queue_id, {})[_pattern(row)] = n
    return _alpha(latest), {q: krippendorff_alpha(p) for q, p in per_queue.items()}


def blind_agreement(latest: QuerySet[Label]) -> list[Agreement]:
    """Alpha over the labels given with the detectors hidden, and over the others (given in
    other queues or outside any): an item labeled in both ways counts in each with its labels of
    that way only."""
    return [
        Agreement("Detectors hidden", _alpha(latest.filter(HIDDEN)), key="hidden", blind=True),
        Agreement("Detectors shown", _alpha(latest.exclude(HIDDEN)), key="shown", blind=False),
    ]


def precision_by_blind(latest: QuerySet[Label]) -> list[BlindPrecision]:
    """Each detector's precision at its current version, per level, against what labelers said
    with the detectors hidden and with them shown (each item judged by its labels of that way,
    without reviewers' decisions, which would give both the same answer). Detectors with no
    such item either way are left out."""
    current = detector_versions()

    def scores(labels: QuerySet[Label]) -> dict[tuple[str, str, int | None], Score]:
        report = evaluate(console_items(labels=labels), detectors=current, keep=0)
        return {
            (s.level, s.unit.detector, s.unit.version): s
            for s in report.scores
            if s.unit.rule is None
        }

    hidden, shown = scores(latest.filter(HIDDEN)), scores(latest.exclude(HIDDEN))
    empty = Score("trace", Unit(""))  # a level nobody labeled at is not in a report
    rows = []
    for level in ("trace", "segment"):
        for name, version in current:
            blind = hidden.get((level, name, version), empty)
            seen = shown.get((level, name, version), empty)
            if blind.tp + blind.fp or seen.tp + seen.fp:
                rows.append(
                    BlindPrecision(
                        name,
                        level,
                        blind.precision,
                        blind.tp + blind.fp,
                        seen.precision,
                        seen.tp + seen.fp,
                    )
                )
    return rows


def category_agreement(latest: QuerySet[Label]) -> dict[int, Figure]:
    """Per category, alpha on whether each labeler filed the item under it."""
    units = latest.order_by().values(item_trace=F("trace"), item_segment=Coalesce("segment", 0))
    raters = units.annotate(raters=Count("pk"))
    named = (
        units.filter(category__isnull=False)
        .exclude(verdict=Verdict.BENIGN)
        .annotate(category_key=F("category"), named=Count("pk"))
    )
    items_by_raters = dict(_grouped(raters, ["raters"]))
    rows = _query(
        "SELECT n.category_key, r.raters, n.named, COUNT(*) FROM {0} n JOIN {1} r "
        "ON n.item_trace = r.item_trace AND n.item_segment = r.item_segment "
        "GROUP BY n.category_key, r.raters, n.named",
        named,
        raters,
    )
    patterns: dict[int, dict[Pattern, int]] = {}
    for category_id, raters_of_item, named_by, n in rows:
        pattern = ((True, named_by), (False, raters_of_item - named_by))
        patterns.setdefault(category_id, {})[tuple(p for p in pattern if p[1])] = n
    figures = {}
    for category_id, of_category in patterns.items():
        # Items nobody filed under the category: every labeler said "not this one".
        for raters_of_item, total in items_by_raters.items():
            filed = sum(n for p, n in of_category.items() if sum(c for _, c in p) == raters_of_item)
            if total > filed:
                of_category[((False, raters_of_item),)] = total - filed
        figures[category_id] = krippendorff_alpha(of_category)
    return figures


def pair_agreement(latest: QuerySet[Label]) -> dict[tuple[int, int], tuple[Figure, Figure]]:
    """Per pair of labelers who share an item: kappa and alpha on the items both labeled."""
    ratings = latest.order_by().values(
        item_trace=F("trace"),
        item_segment=Coalesce("segment", 0),
        rater=F("author"),
        value=F("verdict"),
    )
    rows = _query(
        "SELECT a.rater, b.rater, a.value, b.value, COUNT(*) FROM {0} a JOIN {1} b "
        "ON a.item_trace = b.item_trace AND a.item_segment = b.item_segment "
        "AND a.rater < b.rater GROUP BY a.rater, b.rater, a.value, b.value",
        ratings,
        ratings,
    )
    tables: dict[tuple[int, int], dict[tuple[str, str], int]] = {}
    for first, second, first_value, second_value, n in rows:
        tables.setdefault((first, second), {})[(first_value, second_value)] = n
    figures = {}
    for pair, table in tables.items():
        patterns: dict[Pattern, int] = {}
        for (a, b), n in table.items():
            key = ((a, 2),) if a == b else tuple(sorted(((a, 1), (b, 1))))
            patterns[key] = patterns.get(key, 0) + n
        figures[pair] = (cohen_kappa(table), krippendorff_alpha(patterns))
    return figures


def window(today: date | None = None) -> list[date]:
    """The days the charts over time cover, oldest first."""
    last = today or timezone.localdate()
    return [last - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]


def _day(value: object) -> date:
    """A day as the database returns it (a date, or ISO text from SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def labels_per_day(latest: QuerySet[Label], days: list[date]) -> list[Series]:
    """Each labeler's latest label per item, counted by the day it was given and by category
    (benign ones apart, misaligned or unsure ones without a category together)."""
    rows = (
        latest.filter(created_at__date__gte=days[0])
        .order_by()
        .values("verdict", "category__name", day=TruncDate("created_at"))
        .annotate(n=Count("pk"))
    )
    position = {day: i for i, day in enumerate(days)}
    counts: dict[str, list[float | None]] = {}
    for row in rows:
        at = position.get(_day(row["day"]))
        if at is None:
            continue
        name = (
            BENIGN if row["verdict"] == Verdict.BENIGN else row["category__name"] or UNCATEGORISED
        )
        counts.setdefault(name, [0] * len(days))[at] += row["n"]
    order = {name: i for i, name in enumerate(Category.objects.values_list("name", flat=True))}
    names = sorted(counts, key=lambda name: (name == BENIGN, order.get(name, len(order)), name))
    return [Series(name, counts[name]) for name in names]


def _local_day(value: object) -> date:
    """The local day of a time as a raw query returns it (ISO text in UTC from SQLite)."""
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return timezone.localdate(value)


def _count_by_day(rows: Iterable[tuple[object, int]], sign: int, into: dict[date, int]) -> None:
    """Add (time, n) rows to per-day counts. Times are grouped by the database and turned into
    days here, once per distinct time: SQLite truncates a date in a Python function per row,
    which cost seconds a queue when applied to every label."""
    for at, n in rows:
        day = _local_day(at)
        into[day] = into.get(day, 0) + sign * n


def _completions(queue: Queue, items: QuerySet) -> list[tuple]:
    """(time, items) at which items of the queue reached its overlap of labelers: the time of
    the first label of the labeler who made up the overlap."""
    labels = (
        Label.objects.filter(segment__in=items)
        if queue.level == Queue.Level.SEGMENT
        else Label.objects.filter(trace__in=items, segment__isnull=True)
    )
    firsts = (
        labels.order_by()
        .values(item_trace=F("trace"), item_segment=Coalesce("segment", 0), rater=F("author"))
        .annotate(first_at=Min("created_at"))
    )
    return _query(
        "SELECT first_at, COUNT(*) FROM (SELECT first_at, ROW_NUMBER() OVER "
        "(PARTITION BY item_trace, item_segment ORDER BY first_at) AS nth FROM {0} first_label) "
        "ranked WHERE nth = %s GROUP BY first_at",
        firsts,
        params=(queue.overlap,),
    )


def burndown(queues: Sequence[Queue], days: list[date]) -> list[Series]:
    """Per queue, the items left to label at the end of each day: those that had arrived (their
    trace ingested) less those that had their overlap of labelers by then."""
    series = []
    for queue in queues:
        try:
            items = selectors.queue_items(queue).order_by().values("pk")
        except DocumentError:
            continue  # the queue page names the broken filter
        if queue.level == Queue.Level.SEGMENT:
            arrived = Segment.objects.filter(pk__in=items).values(at=F("step__trace__ingested_at"))
        else:
            arrived = Trace.objects.filter(pk__in=items).values(at=F("ingested_at"))
        change: dict[date, int] = {}
        _count_by_day(arrived.annotate(n=Count("pk")).order_by().values_list("at", "n"), 1, change)
        _count_by_day(_completions(queue, items), -1, change)
        remaining = sum(n for day, n in change.items() if day < days[0])
        values: list[float | None] = []
        for day in days:
            remaining += change.get(day, 0)
            values.append(remaining)
        series.append(Series(queue.name, values))
    return series


def precision_by_version(report: Report | None = None) -> tuple[list[int], dict[str, list[Series]]]:
    """Each detector's precision per version against the final labels, per level, from the
    same report as the detectors' admin page (computed here when not given)."""
    if report is None:
        report = console_report(keep=0)
    scores = [s for s in report.scores if s.unit.version is not None and s.unit.rule is None]
    versions = sorted({s.unit.version for s in scores if s.unit.version is not None})
    at = {version: i for i, version in enumerate(versions)}
    by_level: dict[str, dict[str, list[float | None]]] = {}
    for score in scores:
        line = by_level.setdefault(score.level, {}).setdefault(
            score.unit.detector, [None] * len(versions)
        )
        line[at[score.unit.version]] = score.precision
    return versions, {
        level: [Series(name, values) for name, values in sorted(lines.items())]
        for level, lines in sorted(by_level.items(), key=lambda pair: pair[0] != "trace")
    }


def dashboard(today: date | None = None, *, report: Report | None = None) -> Dashboard:
    """Every figure of the dashboard; ``report``, the console's quality report when the caller
    has it already."""
    latest = selectors.latest_labels()
    overall, per_queue = verdict_agreement(latest)
    queues = list(Queue.objects.order_by("name"))
    names = dict(get_user_model().objects.values_list("pk", "username"))
    pairs = [
        Agreement(f"{names[a]} & {names[b]}", alpha, kappa, (names[a], names[b]))
        for (a, b), (kappa, alpha) in sorted(
            pair_agreement(latest).items(), key=lambda pair: (-pair[1][0].items, pair[0])
        )
    ]
    per_category = category_agreement(latest)
    categories = [
        Agreement(category.name, per_category[category.pk], key=category.slug)
        for category in Category.objects.all()
        if category.pk in per_category
    ]
    days = window(today)
    versions, precision = precision_by_version(report)
    return Dashboard(
        overall=Agreement("All labels", overall),
        queues=[
            Agreement(q.name, per_queue[q.pk], key=q.pk, blind=q.hide_detectors)
            for q in queues
            if q.pk in per_queue
        ],
        categories=categories,
        pairs=pairs,
        days=days,
        labels_per_day=labels_per_day(latest, days),
        burndown=burndown([q for q in queues if q.active], days),
        versions=versions,
        precision=precision,
        blind=blind_agreement(latest),
        precision_blind=precision_by_blind(latest),
    )
