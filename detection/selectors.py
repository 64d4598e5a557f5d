"""Reads of detection for the admin and reports."""

from dataclasses import dataclass

from django.db.models import Count

from detection.models import DetectionRun, Detector, Finding


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
