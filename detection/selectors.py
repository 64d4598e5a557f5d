"""Reads of detection for the admin and reports."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, QuerySet

from detection.models import DetectionRun, Detector, Finding


def current_findings(trace_ids: Iterable[int] | None = None) -> QuerySet[Finding]:
    """Findings made by the current version of an enabled detector: the ones that count."""
    findings = Finding.objects.filter(
        detector__enabled=True, detector_version=F("detector__version")
    )
    if trace_ids is not None:
        findings = findings.filter(trace_id__in=list(trace_ids))
    return findings


@dataclass
class VersionCounts:
    version: int
    findings: int = 0
    traces: int = 0
    failed_runs: int = 0


def version_counts(detector: Detector) -> list[VersionCounts]:
    """Findings, traces with findings and failed runs of each version, newest first."""
    rows = {detector.version: VersionCounts(detector.version)}
    findings = (
        Finding.objects.filter(detector=detector)
        .values("detector_version")
        .annotate(findings=Count("id"), traces=Count("trace_id", distinct=True))
        .order_by()
    )
    for row in findings:
        counts = rows.setdefault(row["detector_version"], VersionCounts(row["detector_version"]))
        counts.findings, counts.traces = row["findings"], row["traces"]
    failed = (
        DetectionRun.objects.filter(detector=detector, state=DetectionRun.State.FAILED)
        .values("detector_version")
        .annotate(failed=Count("id"))
        .order_by()
    )
    for row in failed:
        counts = rows.setdefault(row["detector_version"], VersionCounts(row["detector_version"]))
        counts.failed_runs = row["failed"]
    return sorted(rows.values(), key=lambda c: -c.version)
