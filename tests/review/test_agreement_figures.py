"""Agreement coefficients against published worked examples, and the cases with no figure."""

import math

import pytest

from review.agreement import cohen_kappa, krippendorff_alpha, patterns_of, table_of

# Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011), section C: four observers,
# twelve units, values 1-5, missing data marked None. Nominal alpha = 0.743.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def units(matrix: dict[str, list]) -> list[list]:
    """The reliability data matrix read unit by unit, missing values left out."""
    columns = zip(*matrix.values(), strict=True)
    return [[value for value in column if value is not None] for column in columns]


def test_alpha_matches_krippendorffs_worked_example():
    figure = krippendorff_alpha(patterns_of(units(KRIPPENDORFF_2011)))
    assert round(figure.value, 3) == 0.743
    assert figure.items == 11  # unit 12 has a single value and cannot be paired


def test_alpha_interval_is_seeded_and_brackets_the_figure():
    first = krippendorff_alpha(patterns_of(units(KRIPPENDORFF_2011)))
    second = krippendorff_alpha(patterns_of(units(KRIPPENDORFF_2011)))
    assert first == second
    assert first.low <= first.value <= first.high <= 1


def test_kappa_matches_the_textbook_yes_no_table():
    # Wikipedia's worked example: 50 items, both yes 20, A yes B no 5, A no B yes 10, both no 15.
    table = {("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}
    figure = cohen_kappa(table)
    assert figure.value == pytest.approx(0.4)
    assert figure.items == 50
    assert figure.low < 0.4 < figure.high


def test_kappa_of_cohens_1960_table():
    # Cohen (1960), table 1: three categories, 200 items, kappa = .492.
    cells = [[88, 14, 18], [10, 40, 10], [2, 6, 12]]
    table = {(a, b): cells[a][b] for a in range(3) for b in range(3)}
    assert round(cohen_kappa(table).value, 3) == 0.492


def test_two_raters_alpha_and_kappa_agree_in_sign_and_perfect_agreement_is_one():
    pairs = [("misaligned", "misaligned"), ("benign", "benign"), ("unsure", "unsure")]
    assert cohen_kappa(table_of(pairs)).value == 1.0
    assert krippendorff_alpha(patterns_of([list(p) for p in pairs])).value == 1.0


@pytest.mark.parametrize(
    "rated",
    [
        [],  # nothing rated
        [["misaligned"], ["benign"]],  # one rater per item: nothing pairable
        [["benign", "benign"], ["benign", "benign", "benign"]],  # all the same value
    ],
)
def test_alpha_without_a_figure(rated):
    figure = krippendorff_alpha(patterns_of(rated))
    assert figure.value is None and figure.low is None and figure.high is None
    assert figure.items == sum(len(unit) >= 2 for unit in rated)


@pytest.mark.parametrize(
    "table",
    [{}, {("benign", "benign"): 12}],  # no shared item; both always the same one value
)
def test_kappa_without_a_figure(table):
    figure = cohen_kappa(table)
    assert figure.value is None and figure.low is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in figure.as_dict().values())
