"""govern.checks.fairness against real fairlearn on real data, and every way it must fail closed.

The oracle is fairlearn itself, run the slow way (an unaggregated ``MetricFrame`` and fairlearn's
named disparity functions on the raw rows): govern collapses rows into confusion cells first, and
these tests are what shows that collapsing changes nothing but the time taken.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import fairlearn.metrics as flm
import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from govern.checks.bootstrap import _count_disparity, _count_metrics
from govern.checks.fairness import (
    DEFAULT_METRICS,
    DISPARITIES,
    METRICS,
    MISSING_LABEL,
    evaluate_fairness,
    group_key,
)
from govern.errors import DataError, PolicyError
from govern.model.results import CheckResult, FairnessResult, GroupMetrics
from govern.model.specs import FairnessSpec, Threshold

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "govern" / "data" / "adult-sample.csv.gz"
FULL_ADULT = REPO.parent / "shared" / "data" / "adult" / "adult.data"
ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
POSITIVE = ">50K"

RAW_FUNCTIONS: dict[str, Any] = {
    "selection_rate": flm.selection_rate,
    "true_positive_rate": flm.true_positive_rate,
    "true_negative_rate": flm.true_negative_rate,
    "false_positive_rate": flm.false_positive_rate,
    "false_negative_rate": flm.false_negative_rate,
    "accuracy_score": skm.accuracy_score,
    "balanced_accuracy_score": skm.balanced_accuracy_score,
    "precision_score": skm.precision_score,
    "recall_score": skm.recall_score,
    "f1_score": skm.f1_score,
    "zero_one_loss": skm.zero_one_loss,
}
NAMED_DISPARITIES: dict[str, Any] = {
    "demographic_parity_difference": flm.demographic_parity_difference,
    "demographic_parity_ratio": flm.demographic_parity_ratio,
    "equalized_odds_difference": flm.equalized_odds_difference,
    "equalized_odds_ratio": flm.equalized_odds_ratio,
    "equal_opportunity_difference": flm.equal_opportunity_difference,
    "equal_opportunity_ratio": flm.equal_opportunity_ratio,
}
EVERYTHING = FairnessSpec(
    min_group_size=30,
    metrics=METRICS,
    thresholds={name: Threshold(min=0.0) for name in DISPARITIES},
)


def check(checks: list[CheckResult], check_id: str) -> CheckResult:
    found = [c for c in checks if c.id == check_id]
    assert len(found) == 1, f"{check_id} appears {len(found)} times in {[c.id for c in checks]}"
    return found[0]


def fairlearn_disparity(name: str, y_true: Any, y_pred: Any, sensitive: pd.DataFrame) -> float:
    """fairlearn's own function for a disparity, on the raw rows with fairlearn's defaults."""
    if name in NAMED_DISPARITIES:
        function = NAMED_DISPARITIES[name]
    elif hasattr(flm, name):  # generated: true_positive_rate_difference, accuracy_score_ratio, ...
        function = getattr(flm, name)
    else:  # fairlearn generates no precision_score_difference &c.: derive it the way it would
        metric, _, transform = name.rpartition("_")
        function = flm.make_derived_metric(metric=RAW_FUNCTIONS[metric], transform=transform)
    return float(function(y_true, y_pred, sensitive_features=sensitive))


def assert_matches_fairlearn(
    y_true: pd.Series, y_pred: Any, sensitive: pd.DataFrame, result: FairnessResult, checks: list
) -> int:
    """Compare every group metric and disparity with fairlearn on the raw rows.

    Returns how many disparities were compared (the rest are undefined, which govern must report
    as an error rather than fairlearn's 0.0).
    """
    truth = (y_true == POSITIVE).astype(int).to_numpy()
    predicted = (pd.Series(y_pred) == POSITIVE).astype(int).to_numpy()
    frame = flm.MetricFrame(
        metrics=RAW_FUNCTIONS, y_true=truth, y_pred=predicted, sensitive_features=sensitive
    )
    by_group = frame.by_group
    assert result.rows == len(truth)
    assert sum(g.count for g in result.groups) == len(truth)
    assert len(result.groups) == by_group.dropna(how="all").shape[0]
    features = list(sensitive.columns)
    for group in result.groups:
        key = tuple(group.group[f] for f in features)
        expected = by_group.loc[key if len(key) > 1 else key[0]]
        mask = np.logical_and.reduce([sensitive[f].to_numpy() == group.group[f] for f in features])
        assert group.count == int(mask.sum())
        assert group.positives == int(truth[mask].sum())
        assert list(group.metrics) == list(METRICS)
        for metric in METRICS:
            ours = group.metrics[metric]
            if ours is None:
                assert group.flags, f"{group_key(group.group)} {metric} undefined but not flagged"
            else:
                assert np.isclose(ours, expected[metric], rtol=1e-9, atol=0), (group, metric)

    compared = 0
    for name in DISPARITIES:
        ours = result.disparities[name]
        found = check(checks, f"fairness.{name}")
        if ours is None:
            assert found.status == "error"
            assert found.observed is None
            needed = DISPARITIES[name]
            assert any(g.metrics[m] is None for g in result.groups for m in needed)
            continue
        expected = fairlearn_disparity(name, truth, predicted, sensitive)
        assert np.isclose(ours, expected, rtol=1e-9, atol=0), (name, ours, expected)
        assert found.status == "pass"
        assert found.observed == ours
        compared += 1
    return compared


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_csv(SAMPLE)


@pytest.fixture(scope="module")
def full_adult() -> pd.DataFrame:
    if not FULL_ADULT.exists():
        pytest.skip(f"full UCI Adult data not present at {FULL_ADULT}")
    return pd.read_csv(
        FULL_ADULT, header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values="?"
    ).dropna(subset=["income"])


@pytest.mark.parametrize("features", [["sex"], ["sex", "race"]])
def test_adult_sample_matches_fairlearn(sample: pd.DataFrame, features: list[str]) -> None:
    assert len(sample) == 6000
    model = LogisticRegression(max_iter=1000).fit(sample[NUMERIC], sample["income"])
    predictions = model.predict(sample[NUMERIC])
    result, checks = evaluate_fairness(
        sample["income"], predictions, sample[features], EVERYTHING, positive_label=POSITIVE
    )
    assert result.sensitive_features == tuple(features)
    compared = assert_matches_fairlearn(
        sample["income"], predictions, sample[features], result, checks
    )
    if features == ["sex"]:
        assert compared == len(DISPARITIES)
    else:
        # 19 Amer-Indian-Eskimo women, none earning >50K: every TPR-based disparity is undefined.
        assert compared >= 10
        check_ = check(checks, "fairness.equalized_odds_difference")
        assert check_.status == "error"
        assert "sex=Female, race=Amer-Indian-Eskimo (no positive labels)" in check_.summary
        assert result.disparities["demographic_parity_ratio"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("features", [["sex"], ["sex", "race"]])
def test_full_adult_matches_fairlearn(full_adult: pd.DataFrame, features: list[str]) -> None:
    assert len(full_adult) == 32561
    model = DecisionTreeClassifier(max_depth=6, random_state=0)
    model.fit(full_adult[NUMERIC], full_adult["income"])
    predictions = model.predict(full_adult[NUMERIC])
    result, checks = evaluate_fairness(
        full_adult["income"],
        predictions,
        full_adult[features],
        EVERYTHING,
        positive_label=POSITIVE,
    )
    compared = assert_matches_fairlearn(
        full_adult["income"], predictions, full_adult[features], result, checks
    )
    assert compared >= 10


@pytest.mark.slow
def test_full_adult_known_income_shares(full_adult: pd.DataFrame) -> None:
    """Published shares of >50K incomes by sex: the selection rate with labels as predictions."""
    spec = FairnessSpec(
        metrics=("selection_rate",), thresholds={"demographic_parity_ratio": Threshold(min=0.8)}
    )
    income = full_adult["income"]
    result, checks = evaluate_fairness(
        income, income, full_adult[["sex"]], spec, positive_label=POSITIVE
    )
    rates = {g.group["sex"]: g.metrics["selection_rate"] for g in result.groups}
    assert list(rates) == ["Female", "Male"]
    assert round(rates["Female"] * 100, 2) == 10.95
    assert round(rates["Male"] * 100, 2) == 30.57
    ratio = check(checks, "fairness.demographic_parity_ratio")
    assert ratio.status == "fail"
    assert ratio.summary == "demographic_parity_ratio = 0.358, must be >= 0.8"


# --- fail-closed cases on small synthetic data --------------------------------------------------


def frame(**columns: list[Any]) -> pd.DataFrame:
    return pd.DataFrame(columns)


def balanced(group_sizes: dict[str, int]) -> tuple[list[int], list[int], pd.DataFrame]:
    """Groups with both labels and both predictions, so that every metric is defined."""
    y_true: list[int] = []
    y_pred: list[int] = []
    sex: list[str] = []
    for value, size in group_sizes.items():
        y_true += [(i // 2) % 2 for i in range(size)]
        y_pred += [i % 2 for i in range(size)]
        sex += [value] * size
    return y_true, y_pred, frame(sex=sex)


def test_missing_sensitive_values_are_a_failing_check_and_a_group() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    sensitive.loc[[0, 5, 50], "sex"] = None
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec())
    missing = check(checks, "fairness.sensitive_missing.sex")
    assert missing.status == "fail"
    assert missing.kind == "fairness"
    assert "missing in 3 of 80 rows" in missing.summary
    assert missing.observed == 3
    groups = {g.group["sex"]: g for g in result.groups}
    assert list(groups) == ["F", "M", MISSING_LABEL]
    assert groups[MISSING_LABEL].count == 3
    assert "missing_sensitive_value" in groups[MISSING_LABEL].flags
    assert sum(g.count for g in result.groups) == 80


def test_nan_in_one_of_two_features_keeps_intersections_apart() -> None:
    sensitive = frame(
        sex=["F", "F", "M", "M", np.nan, np.nan], race=["A", None, "A", "B", "A", np.nan]
    )
    result, checks = evaluate_fairness(
        [1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 0], sensitive, FairnessSpec(min_group_size=1)
    )
    labels = [group_key(g.group) for g in result.groups]
    assert labels == [
        "sex=F, race=A",
        f"sex=F, race={MISSING_LABEL}",
        "sex=M, race=A",
        "sex=M, race=B",
        f"sex={MISSING_LABEL}, race=A",
        f"sex={MISSING_LABEL}, race={MISSING_LABEL}",
    ]
    assert check(checks, "fairness.sensitive_missing.sex").summary.startswith(
        "sensitive feature 'sex' is missing in 2 of 6 rows"
    )
    assert check(checks, "fairness.sensitive_missing.race").observed == 2


def test_no_missing_values_means_no_missing_check() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    _, checks = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec())
    assert not [c for c in checks if c.id.startswith("fairness.sensitive_missing")]


def test_group_below_min_size_fails_and_is_flagged() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    y_true.append(1)
    y_pred.append(1)
    sensitive = pd.concat([sensitive, frame(sex=["X"])], ignore_index=True)
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(min_group_size=30))
    size = check(checks, "fairness.min_group_size")
    assert size.status == "fail"
    assert size.summary == "1 of 3 groups have fewer than 30 rows: sex=X (1)"
    assert size.observed == 1
    assert size.threshold == {"min": 30}
    flags = {g.group["sex"]: g.flags for g in result.groups}
    assert "below_min_group_size" in flags["X"]
    assert "below_min_group_size" not in flags["F"]


def test_min_group_size_check_exists_when_it_passes() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    _, checks = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(min_group_size=30))
    size = check(checks, "fairness.min_group_size")
    assert size.status == "pass"
    assert size.summary == "all 2 groups have at least 30 rows (smallest 40)"


def test_group_without_positive_labels_has_undefined_rates_and_errors() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40})
    y_true += [0] * 40
    y_pred += [i % 2 for i in range(40)]
    sensitive = pd.concat([sensitive, frame(sex=["M"] * 40)], ignore_index=True)
    spec = FairnessSpec(
        metrics=METRICS,
        thresholds={
            "equalized_odds_difference": Threshold(max=0.1),
            "demographic_parity_difference": Threshold(max=0.1),
        },
    )
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, spec)
    male = next(g for g in result.groups if g.group["sex"] == "M")
    assert male.positives == 0
    assert "no_positive_labels" in male.flags
    for metric in ("true_positive_rate", "false_negative_rate", "recall_score"):
        assert male.metrics[metric] is None, metric
    assert male.metrics["balanced_accuracy_score"] is None
    assert male.metrics["false_positive_rate"] == 0.5
    assert male.metrics["f1_score"] == 0.0  # 2TP / (2TP + FP + FN) with FP > 0 is defined

    odds = check(checks, "fairness.equalized_odds_difference")
    assert odds.status == "error"
    assert odds.observed is None
    assert odds.summary == (
        "equalized_odds_difference cannot be computed: "
        "true_positive_rate is undefined for sex=M (no positive labels)"
    )
    assert odds.details["agg"] == "worst_case"
    assert odds.details["by_group"]["sex=M"]["true_positive_rate"] is None
    assert result.disparities["equalized_odds_difference"] is None
    # fairlearn scores the missing TPR as 0.0 and reports a disparity of 0.5 that nobody measured.
    assert flm.equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive) == 0.5
    parity = check(checks, "fairness.demographic_parity_difference")
    assert parity.status == "pass"
    assert result.disparities["demographic_parity_difference"] == 0.0


def test_group_without_negative_labels_or_positive_predictions() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40})
    y_true += [1] * 10
    y_pred += [0] * 10
    sensitive = pd.concat([sensitive, frame(sex=["M"] * 10)], ignore_index=True)
    spec = FairnessSpec(
        metrics=("precision_score", "false_positive_rate"),
        thresholds={"precision_score_ratio": Threshold(min=0.8)},
    )
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, spec)
    male = next(g for g in result.groups if g.group["sex"] == "M")
    assert set(male.flags) >= {"no_negative_labels", "no_positive_predictions"}
    assert male.metrics == {"precision_score": None, "false_positive_rate": None}
    precision = check(checks, "fairness.precision_score_ratio")
    assert precision.status == "error"
    assert "precision_score is undefined for sex=M (no positive predictions)" in precision.summary


def test_single_group_is_an_error_not_a_pass() -> None:
    y_true, y_pred, sensitive = balanced({"Female": 50})
    spec = FairnessSpec(thresholds={"demographic_parity_ratio": Threshold(min=0.8)})
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, spec)
    ratio = check(checks, "fairness.demographic_parity_ratio")
    assert ratio.status == "error"
    assert ratio.summary == "only one group in 'sex': a disparity needs at least two"
    assert result.disparities == {"demographic_parity_ratio": None}


def test_ratio_of_zero_to_zero_is_an_error() -> None:
    y_true, _, sensitive = balanced({"F": 40, "M": 40})
    spec = FairnessSpec(thresholds={"demographic_parity_ratio": Threshold(min=0.8)})
    result, checks = evaluate_fairness(y_true, [0] * 80, sensitive, spec)
    ratio = check(checks, "fairness.demographic_parity_ratio")
    assert ratio.status == "error"
    assert "0/0" in ratio.summary
    assert result.disparities["demographic_parity_ratio"] is None


def test_threshold_check_pass_and_fail() -> None:
    # F selected at 1/2, M at 1/4: ratio 0.5, difference 0.25.
    y_true, _, sensitive = balanced({"F": 40, "M": 40})
    y_pred = [i % 2 for i in range(40)] + [int(i % 4 == 0) for i in range(40)]
    spec = FairnessSpec(
        thresholds={
            "demographic_parity_ratio": Threshold(min=0.8),
            "demographic_parity_difference": Threshold(max=0.3),
        }
    )
    result, checks = evaluate_fairness(y_true, y_pred, sensitive, spec)
    ratio = check(checks, "fairness.demographic_parity_ratio")
    assert ratio.status == "fail"
    assert ratio.summary == "demographic_parity_ratio = 0.5, must be >= 0.8"
    assert ratio.observed == 0.5
    assert ratio.threshold == {"min": 0.8}
    assert ratio.details["by_group"] == {
        "sex=F": {"selection_rate": 0.5},
        "sex=M": {"selection_rate": 0.25},
    }
    assert ratio.details["metrics"] == ["selection_rate"]
    difference = check(checks, "fairness.demographic_parity_difference")
    assert difference.status == "pass"
    assert difference.summary == "demographic_parity_difference = 0.25, must be <= 0.3"
    assert result.disparities == {
        "demographic_parity_ratio": 0.5,
        "demographic_parity_difference": 0.25,
    }


def test_summary_never_rounds_a_failing_value_onto_the_bound() -> None:
    # 3999/5000 selected vs 5000/5000: ratio 0.7998, which 3 digits would print as 0.8.
    sensitive = frame(sex=["F"] * 5000 + ["M"] * 5000)
    y_pred = [1] * 3999 + [0] * 1001 + [1] * 5000
    y_true = [1, 0] * 5000
    assert f"{3999 / 5000:.3g}" == "0.8"
    spec = FairnessSpec(thresholds={"demographic_parity_ratio": Threshold(min=0.8)})
    _, checks = evaluate_fairness(y_true, y_pred, sensitive, spec)
    ratio = check(checks, "fairness.demographic_parity_ratio")
    assert ratio.status == "fail"
    assert ratio.summary == "demographic_parity_ratio = 0.7998, must be >= 0.8"


def test_wrong_length_is_a_data_error() -> None:
    y_true, y_pred, sensitive = balanced({"F": 6, "M": 6})
    with pytest.raises(DataError, match=r"^predictions have 10 rows, training data has 12$"):
        evaluate_fairness(y_true, y_pred[:10], sensitive, FairnessSpec())
    with pytest.raises(DataError, match=r"^sensitive features have 11 rows, labels have 12$"):
        evaluate_fairness(y_true, y_pred, sensitive.iloc[:11], FairnessSpec())


def test_empty_data_is_a_data_error() -> None:
    with pytest.raises(DataError, match="no rows"):
        evaluate_fairness([], [], frame(sex=[]), FairnessSpec())


def test_missing_predictions_are_a_data_error() -> None:
    with pytest.raises(DataError, match="predictions have 1 missing values"):
        evaluate_fairness([1, 0], [1.0, np.nan], frame(sex=["F", "M"]), FairnessSpec())


def test_unknown_names_are_policy_errors() -> None:
    y_true, y_pred, sensitive = balanced({"F": 4, "M": 4})
    with pytest.raises(PolicyError, match="roc_auc"):
        evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(metrics=("roc_auc",)))
    bad = FairnessSpec(thresholds={"demographic_parity": Threshold(min=0.8)})
    with pytest.raises(PolicyError, match="demographic_parity"):
        evaluate_fairness(y_true, y_pred, sensitive, bad)


def test_positive_label_matches_across_dtypes() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    spec = FairnessSpec(
        metrics=METRICS, thresholds={"equalized_odds_difference": Threshold(max=0.2)}
    )
    reference, _ = evaluate_fairness(y_true, y_pred, sensitive, spec)
    as_int = np.asarray(y_pred, dtype=np.int64)
    variants: list[tuple[Any, Any, Any]] = [
        (y_true, as_int, 1),
        (y_true, as_int.astype(np.int8), 1),
        (y_true, as_int.astype(float), 1),
        (y_true, as_int.astype(bool), 1),
        (y_true, as_int, 1.0),
        (y_true, as_int, True),
        (np.asarray(y_true, dtype=bool), as_int.astype(float), 1),
        (pd.Series(y_true, dtype="Int64"), pd.Series(y_pred, dtype="boolean"), 1),
        ([str(v) for v in y_true], as_int.astype(str), 1),  # string labels: "1" is 1
        ([str(v) for v in y_true], [f"{v}.0" for v in y_pred], 1),
        ([str(v) for v in y_true], as_int.astype(str), "1"),
        (list(map(int, y_true)), np.asarray(y_pred, dtype=object), 1),
    ]
    for labels, predictions, positive in variants:
        result, _ = evaluate_fairness(labels, predictions, sensitive, spec, positive_label=positive)
        assert [g.metrics for g in result.groups] == [g.metrics for g in reference.groups], (
            type(predictions),
            positive,
        )
        assert result.disparities == reference.disparities


def test_positive_label_that_cannot_match_is_a_data_error() -> None:
    y_true, y_pred, sensitive = balanced({"F": 4, "M": 4})
    with pytest.raises(DataError, match="positive label '>50K' cannot match labels"):
        evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(), positive_label=POSITIVE)
    # A numeric label in text form is not silently equated with numbers.
    with pytest.raises(DataError, match="positive label '1' cannot match"):
        evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(), positive_label="1")


def test_positive_label_found_nowhere_is_a_data_error() -> None:
    sensitive = frame(sex=["F", "M", "F", "M"])
    labels = ["no", "yes", "yes", "no"]
    with pytest.raises(DataError, match="'>50K' appears in neither labels nor predictions"):
        evaluate_fairness(labels, labels, sensitive, FairnessSpec(), positive_label=POSITIVE)


def test_rows_align_by_position_not_index() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    expected, _ = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec())
    shuffled_index = np.random.default_rng(0).permutation(80)
    result, _ = evaluate_fairness(
        pd.Series(y_true, index=shuffled_index),
        pd.Series(y_pred, index=shuffled_index[::-1]),
        sensitive.set_axis(shuffled_index + 1000),
        FairnessSpec(),
    )
    assert result == expected


def test_metrics_default_and_threshold_needs_in_stable_order() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    spec = FairnessSpec(thresholds={"accuracy_score_difference": Threshold(max=0.1)})
    result, _ = evaluate_fairness(y_true, y_pred, sensitive, spec)
    assert list(result.groups[0].metrics) == [*DEFAULT_METRICS, "accuracy_score"]
    assert list(result.disparities) == ["accuracy_score_difference"]
    spec = FairnessSpec(
        metrics=("f1_score", "selection_rate"),
        thresholds={"equalized_odds_ratio": Threshold(min=0.8)},
    )
    result, _ = evaluate_fairness(y_true, y_pred, sensitive, spec)
    assert list(result.groups[0].metrics) == [
        "f1_score",
        "selection_rate",
        "true_positive_rate",
        "false_positive_rate",
    ]


def test_groups_sorted_by_feature_values_and_labelled_as_text() -> None:
    sensitive = frame(age_band=[3, 1, 2, 1, 3, 2], sex=["M", "F", "F", "M", "F", "M"])
    result, _ = evaluate_fairness(
        [1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 0], sensitive, FairnessSpec(min_group_size=1)
    )
    assert [group_key(g.group) for g in result.groups] == [
        "age_band=1, sex=F",
        "age_band=1, sex=M",
        "age_band=2, sex=F",
        "age_band=2, sex=M",
        "age_band=3, sex=F",
        "age_band=3, sex=M",
    ]
    assert result.groups[0].group == {"age_band": "1", "sex": "F"}


def test_group_key() -> None:
    assert group_key({"sex": "Female", "race": "Black"}) == "sex=Female, race=Black"
    assert group_key({"sex": "Male"}) == "sex=Male"


def test_disparity_table_is_complete() -> None:
    for metric in METRICS:
        assert DISPARITIES[f"{metric}_difference"] == (metric,)
        assert DISPARITIES[f"{metric}_ratio"] == (metric,)
    assert DISPARITIES["equalized_odds_difference"] == ("true_positive_rate", "false_positive_rate")
    assert DISPARITIES["demographic_parity_ratio"] == ("selection_rate",)
    assert DISPARITIES["equal_opportunity_ratio"] == ("true_positive_rate",)
    assert set(DEFAULT_METRICS) <= set(METRICS)


def test_result_is_strict_json(sample: pd.DataFrame) -> None:
    model = LogisticRegression(max_iter=1000).fit(sample[NUMERIC], sample["income"])
    result, checks = evaluate_fairness(
        sample["income"],
        model.predict(sample[NUMERIC]),
        sample[["sex", "race"]],
        EVERYTHING,
        positive_label=POSITIVE,
    )
    assert any(v is None for v in result.disparities.values())  # undefined values included
    text = json.dumps(result.to_dict(), allow_nan=False)
    json.dumps([c.to_dict() for c in checks], allow_nan=False)
    assert FairnessResult.from_dict(json.loads(text)) == FairnessResult.from_dict(result.to_dict())
    for group in result.to_dict()["groups"]:
        assert all(v is None or math.isfinite(v) for v in group["metrics"].values())


def test_module_import_stays_light() -> None:
    code = (
        "import sys, govern.checks.fairness; "
        "heavy = [m for m in ('pandas', 'numpy', 'fairlearn', 'sklearn') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


# --- bootstrap confidence intervals -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_model(sample: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression(max_iter=1000).fit(sample[NUMERIC], sample["income"])


def width(interval: tuple[float, float] | None) -> float:
    assert interval is not None
    return interval[1] - interval[0]


def test_count_formulas_equal_fairlearn_point_estimates(
    sample: pd.DataFrame, sample_model: LogisticRegression
) -> None:
    """The vectorised formulas the bootstrap uses, on the real confusion counts, give fairlearn's
    numbers: every group metric and disparity, undefined (NaN) exactly where govern says None."""
    features = ["sex", "race"]
    predictions = sample_model.predict(sample[NUMERIC])
    result, _ = evaluate_fairness(
        sample["income"], predictions, sample[features], EVERYTHING, positive_label=POSITIVE
    )
    truth = (sample["income"] == POSITIVE).to_numpy()
    predicted = predictions == POSITIVE
    counts = np.zeros((1, len(result.groups), 4), dtype=np.int64)
    for i, group in enumerate(result.groups):  # counted from the raw rows, not govern's cells
        mask = np.logical_and.reduce([sample[f].to_numpy() == group.group[f] for f in features])
        for quadrant, (t, p) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
            counts[0, i, quadrant] = np.sum(mask & (truth == t) & (predicted == p))
    values = _count_metrics(counts, METRICS)
    undefined = 0
    for i, group in enumerate(result.groups):
        for metric in METRICS:
            ours = values[metric][0, i]
            if group.metrics[metric] is None:
                assert np.isnan(ours), (group.group, metric)
                undefined += 1
            else:
                assert np.isclose(ours, group.metrics[metric], rtol=1e-12, atol=0)
    assert undefined > 0
    for name, point in result.disparities.items():
        ours = _count_disparity(name, values)[0]
        if point is None:
            assert np.isnan(ours), name
        else:
            assert np.isclose(ours, point, rtol=1e-12, atol=1e-15), (name, ours, point)


def test_intervals_agree_with_fairlearn_bootstrap(
    sample: pd.DataFrame, sample_model: LogisticRegression
) -> None:
    """fairlearn's ``MetricFrame`` bootstrap (resampling raw rows, slowly) and govern's multinomial
    draws over the cells estimate the same intervals: widths and ends within Monte Carlo noise."""
    rows = sample.head(1000)
    predictions = sample_model.predict(rows[NUMERIC])
    truth = (rows["income"] == POSITIVE).astype(int).to_numpy()
    predicted = (predictions == POSITIVE).astype(int)
    functions = {m: RAW_FUNCTIONS[m] for m in ("selection_rate", "true_positive_rate")}
    frame = flm.MetricFrame(
        metrics=functions,
        y_true=truth,
        y_pred=predicted,
        sensitive_features=rows["sex"],
        n_boot=150,
        ci_quantiles=[0.025, 0.975],
        random_state=0,
    )
    spec = FairnessSpec(
        metrics=tuple(functions),
        thresholds={
            "demographic_parity_difference": Threshold(max=1.0),
            "equal_opportunity_difference": Threshold(max=1.0),
        },
    )
    result, _ = evaluate_fairness(
        rows["income"], predictions, rows[["sex"]], spec, positive_label=POSITIVE, bootstrap=4000
    )
    assert result.ci_level == 0.95
    low, high = frame.by_group_ci
    pairs: list[tuple[tuple[float, float] | None, tuple[float, float]]] = [
        (g.metrics_ci[m], (low.loc[g.group["sex"], m], high.loc[g.group["sex"], m]))
        for g in result.groups
        for m in functions
    ]
    low_d, high_d = frame.difference_ci()
    pairs += [
        (result.disparities_ci[name], (low_d[metric], high_d[metric]))
        for name, metric in (
            ("demographic_parity_difference", "selection_rate"),
            ("equal_opportunity_difference", "true_positive_rate"),
        )
    ]
    for ours, theirs in pairs:
        assert ours is not None
        assert 0.7 < width(ours) / width(theirs) < 1.3, (ours, theirs)
        assert abs(ours[0] - theirs[0]) < 0.3 * width(theirs), (ours, theirs)
        assert abs(ours[1] - theirs[1]) < 0.3 * width(theirs), (ours, theirs)


def test_intervals_contain_the_point_estimate_on_adult(
    sample: pd.DataFrame, sample_model: LogisticRegression
) -> None:
    result, checks = evaluate_fairness(
        sample["income"],
        sample_model.predict(sample[NUMERIC]),
        sample[["sex"]],
        EVERYTHING,
        positive_label=POSITIVE,
    )
    assert result.ci_level == 0.95
    assert result.ci_note == (
        "95% confidence intervals: percentiles of 200 bootstrap resamples of the 6,000 rows "
        "(drawn with replacement, seed 0)"
    )
    intervals = [(g.metrics[m], g.metrics_ci[m]) for g in result.groups for m in METRICS]
    intervals += [(result.disparities[d], result.disparities_ci[d]) for d in DISPARITIES]
    assert len(intervals) == 2 * len(METRICS) + len(DISPARITIES)
    inside = 0
    for point, interval in intervals:
        assert point is not None and interval is not None
        low, high = interval
        assert 0.0 <= low <= high <= 1.0
        assert high > low  # thousands of rows: no value is certain
        inside += low <= point <= high
    # Percentile intervals of a max-minus-min can miss a point estimate near 0; group metrics not.
    assert inside >= 0.9 * len(intervals)
    for group in result.groups:
        for metric, interval in group.metrics_ci.items():
            point = group.metrics[metric]
            assert point is not None and interval is not None
            assert interval[0] <= point <= interval[1], (group.group, metric)
    # The gate does not look at the intervals.
    assert all(c.status == "pass" for c in checks)


def test_intervals_narrow_with_more_data(
    sample: pd.DataFrame, full_adult: pd.DataFrame, sample_model: LogisticRegression
) -> None:
    spec = FairnessSpec(
        metrics=DEFAULT_METRICS,
        thresholds={
            "demographic_parity_difference": Threshold(max=1.0),
            "equalized_odds_ratio": Threshold(min=0.0),
        },
    )
    results = [
        evaluate_fairness(
            data["income"],
            sample_model.predict(data[NUMERIC]),
            data[["sex"]],
            spec,
            positive_label=POSITIVE,
        )[0]
        for data in (sample, full_adult)
    ]
    small, large = results
    assert (small.rows, large.rows) == (6000, 32561)
    # Standard errors shrink with the square root of the rows: about 0.43 times as wide.
    for g_small, g_large in zip(small.groups, large.groups, strict=True):
        assert g_small.group == g_large.group
        for metric in DEFAULT_METRICS:
            ratio = width(g_large.metrics_ci[metric]) / width(g_small.metrics_ci[metric])
            assert ratio < 0.7, (g_small.group, metric, ratio)
    for name in spec.thresholds:
        ratio = width(large.disparities_ci[name]) / width(small.disparities_ci[name])
        assert ratio < 0.7, (name, ratio)


def test_intervals_omitted_above_the_row_limit_or_when_disabled() -> None:
    y_true, y_pred, sensitive = balanced({"F": 40, "M": 40})
    spec = FairnessSpec(thresholds={"demographic_parity_ratio": Threshold(min=0.8)})
    with_ci, _ = evaluate_fairness(y_true, y_pred, sensitive, spec, max_bootstrap_rows=80)
    assert with_ci.ci_level == 0.95
    assert set(with_ci.disparities_ci) == {"demographic_parity_ratio"}
    assert all(set(g.metrics_ci) == set(DEFAULT_METRICS) for g in with_ci.groups)

    cases = {
        "confidence intervals omitted: 80 rows exceed the 79-row limit for bootstrapping": {
            "max_bootstrap_rows": 79
        },
        "confidence intervals omitted: bootstrap disabled": {"bootstrap": 0},
    }
    for note, kwargs in cases.items():
        result, checks = evaluate_fairness(y_true, y_pred, sensitive, spec, **kwargs)
        assert result.ci_note == note
        assert result.ci_level is None
        assert result.disparities_ci == {}
        assert all(g.metrics_ci == {} for g in result.groups)
        # Nothing else changes.
        assert result.disparities == with_ci.disparities
        assert [g.metrics for g in result.groups] == [g.metrics for g in with_ci.groups]


def test_default_row_limit_note() -> None:
    rows = 1_000_000
    sensitive = pd.DataFrame({"sex": np.repeat(np.array(["F", "M"]), rows // 2)})
    y_true = np.tile(np.array([0, 1, 1, 0]), rows // 4)
    y_pred = np.tile(np.array([0, 1, 0, 1]), rows // 4)
    result, _ = evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec())
    assert result.ci_note == (
        "confidence intervals omitted: 1,000,000 rows exceed the 200,000-row limit for "
        "bootstrapping"
    )
    assert result.ci_level is None


def test_intervals_are_deterministic_given_the_seed() -> None:
    y_true, y_pred, sensitive = balanced({"F": 60, "M": 40})
    spec = FairnessSpec(
        metrics=METRICS, thresholds={"equalized_odds_difference": Threshold(max=0.2)}
    )
    first, _ = evaluate_fairness(y_true, y_pred, sensitive, spec, seed=7)
    again, _ = evaluate_fairness(y_true, y_pred, sensitive, spec, seed=7)
    assert first == again
    other, _ = evaluate_fairness(y_true, y_pred, sensitive, spec, seed=8)
    assert other.disparities == first.disparities
    assert other.disparities_ci != first.disparities_ci
    assert other.ci_note is not None and "seed 8" in other.ci_note
    # The draws do not depend on the order the rows come in.
    order = np.random.default_rng(1).permutation(len(y_true))
    shuffled, _ = evaluate_fairness(
        np.asarray(y_true)[order],
        np.asarray(y_pred)[order],
        sensitive.iloc[order],
        spec,
        seed=7,
    )
    assert shuffled == first


def test_undefined_values_in_resamples_are_left_out_and_noted() -> None:
    # M has one positive label in 40 rows: its TPR is defined, but about a third of resamples
    # draw no positive M row at all. X has no positive labels: no TPR, so no interval.
    y_true, y_pred, sensitive = balanced({"F": 40})
    y_true += [1] + [0] * 39
    y_pred += [1] + [i % 2 for i in range(39)]
    y_true += [0] * 40
    y_pred += [i % 2 for i in range(40)]
    sensitive = pd.concat([sensitive, frame(sex=["M"] * 40 + ["X"] * 40)], ignore_index=True)
    spec = FairnessSpec(
        metrics=("selection_rate", "true_positive_rate"),
        thresholds={
            "equal_opportunity_difference": Threshold(max=1.0),
            "demographic_parity_difference": Threshold(max=1.0),
        },
    )
    result, _ = evaluate_fairness(y_true, y_pred, sensitive, spec)
    by_sex = {g.group["sex"]: g for g in result.groups}
    assert by_sex["M"].metrics["true_positive_rate"] == 1.0
    assert by_sex["M"].metrics_ci["true_positive_rate"] == (1.0, 1.0)
    assert by_sex["X"].metrics["true_positive_rate"] is None
    assert by_sex["X"].metrics_ci["true_positive_rate"] is None
    assert by_sex["X"].metrics_ci["selection_rate"] is not None
    assert result.disparities["equal_opportunity_difference"] is None
    assert result.disparities_ci["equal_opportunity_difference"] is None
    assert result.disparities_ci["demographic_parity_difference"] is not None
    note = result.ci_note
    assert note is not None
    assert "left out of its interval" in note
    assert "sex=M: true_positive_rate (" in note
    assert "sex=F" not in note and "sex=X" not in note and "selection_rate" not in note


def test_bad_bootstrap_arguments_are_value_errors() -> None:
    y_true, y_pred, sensitive = balanced({"F": 4, "M": 4})
    with pytest.raises(ValueError, match="bootstrap must be >= 0"):
        evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(), bootstrap=-1)
    for level in (0.0, 1.0, 95):
        with pytest.raises(ValueError, match="ci_level must be between 0 and 1"):
            evaluate_fairness(y_true, y_pred, sensitive, FairnessSpec(), ci_level=level)


def test_intervals_survive_a_strict_json_round_trip(
    sample: pd.DataFrame, sample_model: LogisticRegression
) -> None:
    predictions = sample_model.predict(sample[NUMERIC])
    for kwargs in ({}, {"bootstrap": 0}):
        result, _ = evaluate_fairness(
            sample["income"],
            predictions,
            sample[["sex", "race"]],
            EVERYTHING,
            positive_label=POSITIVE,
            **kwargs,
        )
        data = result.to_dict()
        text = json.dumps(data, allow_nan=False)
        again = FairnessResult.from_dict(json.loads(text))
        assert again.to_dict() == data
        assert again == result
        if kwargs:
            continue
        assert data["ci_level"] == 0.95
        assert any(v is None for v in data["disparities_ci"].values())
        group = data["groups"][0]
        assert set(group["metrics_ci"]) == set(METRICS)
        assert any(v is None for v in group["metrics_ci"].values())
        assert all(v is None or len(v) == 2 for v in group["metrics_ci"].values())


def test_results_without_intervals_still_load() -> None:
    """``results.json`` written before intervals existed, and the positional constructors."""
    old = {
        "sensitive_features": ["sex"],
        "groups": [{"group": {"sex": "F"}, "count": 40, "positives": 3, "metrics": {"x": 0.5}}],
        "disparities": {"demographic_parity_ratio": 0.9},
        "min_group_size": 30,
    }
    result = FairnessResult.from_dict(old)
    assert result.disparities_ci == {} and result.ci_level is None and result.ci_note is None
    assert result.groups[0].metrics_ci == {}
    assert result == FairnessResult(
        ("sex",),
        (GroupMetrics({"sex": "F"}, 40, 3, {"x": 0.5}),),
        {"demographic_parity_ratio": 0.9},
        30,
    )
