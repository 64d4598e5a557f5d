"""What an export is made from, validated in one place for the console, the API and the command.

Errors carry the path of the field at fault (``filters.min_agreement``), so every caller can
answer with it: a 400 naming the field, a form error beside it, a command's message.
"""

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal

import msgspec

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT = {"train": 0.8, "validation": 0.1, "test": 0.1}
MAX_CONTEXT_STEPS = 50

Verdict = Literal["misaligned", "benign", "unsure"]
Level = Literal["segment", "trace", "both"]
Format = Literal["jsonl", "csv", "parquet", "hf"]
Compression = Literal["none", "gzip", "zstd"]
Share = Annotated[float, msgspec.Meta(ge=0, le=1)]


class SpecError(ValueError):
    """A field of an export's description that cannot be used, with the field's path."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


class Filters(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """Which labeled items go in. Every filter is optional; none means every labeled item."""

    queue: int | None = None
    source: str | None = None
    model: str | None = None
    category: str | None = None
    verdict: Verdict | None = None
    labeled_after: date | None = None
    adjudicated_only: bool = False
    min_agreement: Share | None = None
    level: Level = "both"


class Spec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An export: a dataset's name, its filters, the file's format and the split rule."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[-a-zA-Z0-9_]+$")]
    filters: Filters = msgspec.field(default_factory=Filters)
    format: Format = "jsonl"
    compression: Compression = "none"
    split: dict[str, Share] = msgspec.field(default_factory=lambda: dict(DEFAULT_SPLIT))
    context_steps: Annotated[int, msgspec.Meta(ge=0, le=MAX_CONTEXT_STEPS)] = 3


_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_FIELD = re.compile(r"Object (contains unknown|missing required) field `([^`]*)`")


def _error_path(error: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec says ``Expected `float` <= 1.0 - at `$.filters.min_agreement```; callers want the
    path ``filters.min_agreement`` and the message apart."""
    text = str(error)
    path = ""
    if match := _AT.search(text):
        path, text = match.group(1), text[: match.start()]
    if match := _FIELD.fullmatch(text):
        path = f"{path}.{match.group(2)}" if path else match.group(2)
        text = "unknown field" if match.group(1) == "contains unknown" else "required"
    return path, text


def parse_spec(data: Mapping[str, Any], *, strict: bool = True) -> Spec:
    """Validate an export's description; ``strict=False`` accepts strings for numbers, booleans
    and dates, as form fields and command options give them."""
    try:
        spec = msgspec.convert(dict(data), Spec, strict=strict)
    except msgspec.ValidationError as error:
        raise SpecError(*_error_path(error)) from None
    unknown = sorted(set(spec.split) - set(SPLITS))
    if unknown:
        raise SpecError(f"split.{unknown[0]}", f"splits are {', '.join(SPLITS)}")
    if not math.isclose(sum(spec.split.values()), 1.0, abs_tol=1e-6):
        raise SpecError("split", "the shares must add up to 1")
    if spec.format in ("parquet", "hf") and spec.compression != "none":
        raise SpecError(
            "compression",
            "Parquet compresses inside the file (zstd); choose none for parquet or hf",
        )
    return spec


def spec_from_fields(fields: Mapping[str, Any], *, split: dict[str, float]) -> Spec:
    """An export's description from flat fields, as a form or a command's options give them:
    the filters among them, the empty ones left out; values may be strings."""
    filters = {
        name: fields[name]
        for name in Filters.__struct_fields__
        if fields.get(name) not in (None, "", False)
    }
    return parse_spec(
        {
            "name": fields["name"],
            "filters": filters,
            "format": fields["format"],
            "compression": fields["compression"],
            "split": split,
            "context_steps": fields["context_steps"],
        },
        strict=False,
    )


def field_of(error: SpecError) -> str:
    """The flat field an error is about: ``filters.min_agreement`` is ``min_agreement``, and
    ``split[...]`` (a share of the split) is ``split``."""
    return re.split(r"[.\[]", error.path.removeprefix("filters."))[0]


def parse_split(text: str) -> dict[str, float]:
    """``train=0.8,validation=0.1,test=0.1`` (a command option) as a split rule."""
    split: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, share = part.partition("=")
        if not sep:
            raise SpecError("split", f"expected name=share, got {part!r}")
        try:
            split[name.strip()] = float(share)
        except ValueError:
            raise SpecError(f"split.{name.strip()}", f"not a number: {share!r}") from None
    return split
