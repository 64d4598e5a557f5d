"""How far labelers agree: Cohen's kappa for two raters and Krippendorff's alpha (nominal) for any
number, each with the number of items behind it and a 95% bootstrap interval.

Pure arithmetic over plain counts, so the database can do the counting: alpha needs only how many
items show each pattern of values (an item rated misaligned by two people and benign by one is
the pattern {misaligned: 2, benign: 1}), and kappa only the two raters' contingency table. Items
with the same pattern are interchangeable, so resampling items with replacement is a multinomial
draw over the patterns: the interval costs the same for ten items as for a million.

A figure that cannot be computed (no item rated twice, or every rating the same value, which
leaves nothing to disagree about) is ``None``, never NaN.
"""

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Resamples behind each interval, and the seed that keeps a page's intervals the same on reload.
RESAMPLES = 1000
SEED = 20110101
INTERVAL = f"95% percentile bootstrap over items, {RESAMPLES} resamples, fixed seed"

Pattern = tuple[tuple[Hashable, int], ...]  # (value, raters who gave it), sorted by value


@dataclass(frozen=True)
class Figure:
    """An agreement coefficient, the items it stands on, and its 95% interval."""

    value: float | None
    items: int
    low: float | None = None
    high: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"value": self.value, "items": self.items, "low": self.low, "high": self.high}


def pattern_of(values: Iterable[Hashable]) -> Pattern:
    """The pattern of one item: each value with the number of raters who gave it."""
    counts: dict[Hashable, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return tuple(sorted(counts.items(), key=lambda pair: repr(pair[0])))


def patterns_of(units: Iterable[Iterable[Hashable]]) -> dict[Pattern, int]:
    """How many items show each pattern, from each item's list of ratings (missing ones left
    out, as in a reliability data matrix read column by column)."""
    patterns: dict[Pattern, int] = {}
    for unit in units:
        pattern = pattern_of(unit)
        patterns[pattern] = patterns.get(pattern, 0) + 1
    return patterns


def _interval(estimates: np.ndarray) -> tuple[float | None, float | None]:
    defined = estimates[np.isfinite(estimates)]
    if defined.size == 0:
        return None, None
    low, high = np.percentile(defined, [2.5, 97.5])
    return float(low), float(high)


def _alpha(coincidences: np.ndarray) -> np.ndarray:
    """Nominal alpha from coincidence matrices (the last two axes), NaN where undefined:
    1 - (n - 1) * (disagreeing pairs observed) / (disagreeing pairs expected by chance)."""
    n_c = coincidences.sum(axis=-1)
    n = n_c.sum(axis=-1)
    observed = n - np.trace(coincidences, axis1=-2, axis2=-1)
    expected = n**2 - (n_c**2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(expected > 0, 1 - (n - 1) * observed / expected, np.nan)


def krippendorff_alpha(patterns: Mapping[Pattern, int]) -> Figure:
    """Krippendorff's alpha for nominal data, any number of raters, missing ratings allowed.

    Only items with two ratings or more (pairable ones) count; the interval resamples them."""
    pairable = {p: n for p, n in patterns.items() if n > 0 and sum(c for _, c in p) >= 2}
    items = sum(pairable.values())
    if not items:
        return Figure(None, 0)
    values = sorted({value for pattern in pairable for value, _ in pattern}, key=repr)
    index = {value: i for i, value in enumerate(values)}
    # Each pattern's contribution to the coincidence matrix: n_c n_k / (m - 1) off the diagonal,
    # n_c (n_c - 1) / (m - 1) on it.
    contributions = np.zeros((len(pairable), len(values), len(values)))
    for row, pattern in enumerate(pairable):
        counts = np.zeros(len(values))
        for value, count in pattern:
            counts[index[value]] = count
        contributions[row] = (np.outer(counts, counts) - np.diag(counts)) / (counts.sum() - 1)
    weights = np.array(list(pairable.values()), dtype=float)
    value = _alpha(np.tensordot(weights, contributions, axes=1))
    if not np.isfinite(value):
        return Figure(None, items)
    draws = np.random.default_rng(SEED).multinomial(items, weights / items, size=RESAMPLES)
    low, high = _interval(_alpha(np.tensordot(draws.astype(float), contributions, axes=1)))
    return Figure(float(value), items, low, high)


def _kappa(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa from contingency tables (the last two axes), NaN where undefined."""
    n = tables.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.trace(tables, axis1=-2, axis2=-1) / n
        chance = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1) / n**2
        return np.where(chance < 1, (observed - chance) / (1 - chance), np.nan)


def cohen_kappa(table: Mapping[tuple[Hashable, Hashable], int]) -> Figure:
    """Cohen's kappa for two raters from their contingency table: ``(first's value, second's
    value) -> items``. The interval resamples the items both rated."""
    counted = {cell: n for cell, n in table.items() if n > 0}
    items = sum(counted.values())
    if not items:
        return Figure(None, 0)
    values = sorted({value for cell in counted for value in cell}, key=repr)
    index = {value: i for i, value in enumerate(values)}
    cells = list(counted)
    matrix = np.zeros((len(values), len(values)))
    for (first, second), n in counted.items():
        matrix[index[first], index[second]] = n
    value = _kappa(matrix)
    if not np.isfinite(value):
        return Figure(None, items)
    weights = np.array([counted[cell] for cell in cells], dtype=float)
    draws = np.random.default_rng(SEED).multinomial(items, weights / items, size=RESAMPLES)
    tables = np.zeros((RESAMPLES, len(values), len(values)))
    for column, (first, second) in enumerate(cells):
        tables[:, index[first], index[second]] = draws[:, column]
    low, high = _interval(_kappa(tables))
    return Figure(float(value), items, low, high)


def table_of(pairs: Sequence[tuple[Hashable, Hashable]]) -> dict[tuple[Hashable, Hashable], int]:
    """The contingency table of two raters' ratings of the same items."""
    table: dict[tuple[Hashable, Hashable], int] = {}
    for pair in pairs:
        table[pair] = table.get(pair, 0) + 1
    return table
