"""One rule for "is this the positive label", used by the label checks, representation and the
fairness metrics alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from govern.checks.labels import (
    label_problem,
    matches,
    positive_mask,
    positive_rows,
    prediction_problem,
    same_class,
)
from govern.errors import DataError


@pytest.mark.parametrize(
    ("value", "label", "expected"),
    [
        (1, 1, True),
        (1.0, 1, True),
        (True, 1, True),
        (np.int64(1), 1, True),
        ("1", 1, True),  # a number positive label matches its spelling in text labels
        ("1.0", 1, True),
        ("1", "1", True),
        (1, "1", False),  # a text positive label never matches a number
        (0, 1, False),
        (">50K", ">50K", True),
        (">50K ", ">50K", False),  # a stray space is another class
        ("True", True, True),
    ],
)
def test_matches(value: object, label: object, expected: bool) -> None:
    assert matches(value, label) is expected


def test_the_mask_and_the_scalar_rule_agree_on_every_dtype() -> None:
    cases = [
        (pd.Series([0, 1, 1, 0]), 1),
        (pd.Series([0.0, 1.0, 1.0, 0.0]), 1),
        (pd.Series(["0", "1", "1", "0"]), 1),
        (pd.Series(["no", "yes", "yes", "no"]), "yes"),
        (pd.Series(["no", "yes", "yes", "no"], dtype="category"), "yes"),
        (pd.Series([0, "1", 1, "0"], dtype=object), 1),
        (pd.Series([False, True, True, False]), True),
    ]
    for values, label in cases:
        mask = positive_mask(values, label, "labels")
        assert mask.tolist() == [matches(v, label) for v in values], (values.tolist(), label)
        assert mask.tolist() == [False, True, True, False]


def test_text_positive_label_against_numbers_is_an_error_not_all_negative() -> None:
    with pytest.raises(DataError, match="positive label '1' cannot match labels of type int64"):
        positive_mask(pd.Series([0, 1]), "1", "labels")
    # The label check says the same thing before fairness runs.
    assert label_problem(pd.Series([0, 1]), "y", "1") == (
        "positive label '1' does not occur in label column 'y' (values: 0, 1)"
    )


def test_representation_uses_the_same_rule_and_skips_missing_labels() -> None:
    values = pd.Series(["1", None, "0", "1"])
    rows = positive_rows(values, 1)
    assert rows is not None
    assert rows.tolist() == [True, False, False, True]
    assert positive_rows(pd.Series([0, 1]), "1") is None


def test_predictions_are_compared_with_the_label_classes_both_ways() -> None:
    labels = pd.Series([0, 1, 0, 1])
    assert same_class("1", 1) and same_class(1, "1")
    assert prediction_problem(np.array(["0", "1", "1", "0"]), labels, 4) is None
    assert "not classes of the label" in str(prediction_problem(np.array([0.7] * 4), labels, 4))
    assert prediction_problem(np.array([0, 1]), labels, 4) == (
        "the model returned 2 predictions for 4 rows"
    )
