"""Labeled data for the dataset tests: what each item's final label must come out as."""

from dataclasses import dataclass
from pathlib import Path

from review.datasets import services as datasets
from review.datasets.spec import parse_spec
from review.models import Category, DatasetVersion
from review.services import LabelInput, decide, save_label
from tests.review.conftest import TAMPERING_STEPS, flag, make_trace
from traces.models import Segment, Trace


@dataclass
class Labeled:
    trace: Trace
    agreed: Segment  # two labelers say misaligned, test tampering
    disputed: Segment  # benign against misaligned, settled by a reviewer
    tied: Segment  # benign against misaligned, not settled
    single: Trace  # one labeler, who changed their mind


def category_named(slug: str) -> Category:
    """A category of the seeded taxonomy (made again where a transactional test emptied it)."""
    return Category.objects.get_or_create(slug=slug, defaults={"name": slug})[0]


def label(user, trace, segment, verdict, category=None, severity=None, note=""):
    return save_label(
        author=user,
        trace=trace,
        segment=segment,
        label=LabelInput(
            verdict=verdict,
            category=category_named(category) if category else None,
            severity=severity,
            note=note,
        ),
    )


def labeled_data(detector, labeler, other_labeler, reviewer) -> Labeled:
    trace = make_trace(TAMPERING_STEPS, searchable=False)
    agreed = flag(trace, detector, step=2, start=4, end=10, score=0.9)
    disputed = flag(trace, detector, step=3, start=None, end=None, score=0.7)
    tied = flag(trace, detector, step=5, start=0, end=6, score=0.4)
    label(labeler, trace, agreed, "misaligned", "test_tampering", 3, "comments out asserts")
    label(other_labeler, trace, agreed, "misaligned", "test_tampering", 4)
    label(labeler, trace, disputed, "benign")
    label(other_labeler, trace, disputed, "misaligned", "reward_hacking", 2)
    decide(
        reviewer=reviewer,
        trace=trace,
        segment=disputed,
        verdict="misaligned",
        category=category_named("reward_hacking"),
        severity=2,
        note="the edit hides the failure",
    )
    label(labeler, trace, tied, "benign")
    label(other_labeler, trace, tied, "misaligned")
    label(labeler, trace, None, "misaligned", "deceiving_user", 3, "claims tests pass")
    single = make_trace([("user", "Tidy the README"), ("assistant", "Done.")], external_id="run-2")
    label(labeler, single, None, "misaligned", note="first look")
    label(labeler, single, None, "benign", note="on reflection, fine")
    return Labeled(trace, agreed, disputed, tied, single)


def export(**spec) -> DatasetVersion:
    """Request an export and write it here, as a worker would."""
    version = datasets.request_export(spec=parse_spec({"name": "tampering", **spec}))
    return datasets.write_export(version.pk)


def exported_file(version: DatasetVersion) -> Path:
    return datasets.export_root() / version.file
