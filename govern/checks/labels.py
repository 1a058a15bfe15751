"""The one rule for "is this the positive label", and the label sanity checks built on it.

Labels arrive as numbers, booleans, text or categories, from a CSV, a parquet file or a model's
``predict``. One rule decides equality everywhere (the label checks, the representation table and
the fairness metrics), so no two parts of a report can disagree about which rows are positive:

- a number positive label matches numbers numerically (1 == 1.0 == True) and text that spells it
  ("1", "1.0");
- a text positive label matches only that exact text: "1" is never silently equated with the
  number 1, because a text label in numeric data is almost always a mistake in the policy.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from govern.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

MISSING = "(missing)"


def plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, str)


def text_forms(label: Any) -> set[str]:
    """How a label is spelt in text labels: 1 is "1" or "1.0", True is "True"."""
    label = plain(label)
    forms = {str(label)}
    if is_number(label) and not isinstance(label, bool):
        number = float(label)
        forms.add(repr(number))
        if math.isfinite(number) and number.is_integer():
            forms.add(str(int(number)))
    return forms


def matches(value: Any, label: Any) -> bool:
    """Whether one value carries ``label``, by the rule above (``label`` decides the type)."""
    value, label = plain(value), plain(label)
    if isinstance(label, str):
        return isinstance(value, str) and value == label
    if isinstance(value, str):
        return value in text_forms(label)
    try:
        return bool(value == label)
    except (TypeError, ValueError):
        return False


def same_class(a: Any, b: Any) -> bool:
    """Whether two values name the same class (a prediction and a label value), either way."""
    return matches(a, b) or matches(b, a)


def positive_mask(values: pd.Series, positive_label: Any, what: str) -> np.ndarray:
    """Which rows carry the positive label, whatever dtype the data or ``predict`` gave.

    A text positive label against numeric values cannot match anything, and silently calling
    every row negative would fake a result, so it is an error, as is a missing value.
    """
    import numpy as np
    import pandas as pd

    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(np.asarray(values, dtype=object))
    missing = int(values.isna().sum())
    if missing:
        raise DataError(f"{what} have {missing} missing values")
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("integer", "floating", "boolean", "mixed-integer-float", "decimal"):
        if not is_number(plain(positive_label)):
            raise DataError(
                f"positive label {positive_label!r} cannot match {what} of type {values.dtype}"
            )
        return values.eq(positive_label).to_numpy(dtype=bool)
    if kind == "string":
        forms = {positive_label} if isinstance(positive_label, str) else text_forms(positive_label)
        return values.isin(forms).to_numpy(dtype=bool)
    # Mixed objects: decide per distinct value, then map (a 1M-row loop costs seconds).
    hits = [v for v in values.drop_duplicates().tolist() if matches(v, positive_label)]
    return values.isin(hits).to_numpy(dtype=bool)


def positive_rows(values: pd.Series, positive_label: Any) -> pd.Series | None:
    """``positive_mask`` as a boolean Series over the present values, or ``None`` when the label
    cannot be read that way (descriptive tables then show no positive shares)."""
    import pandas as pd

    present = values.dropna()
    try:
        mask = positive_mask(present, positive_label, "labels")
    except DataError:
        return None
    out = pd.Series(False, index=values.index)
    out.loc[present.index] = mask
    return out


def label_problem(labels: pd.Series, name: str, positive: Any) -> str | None:
    """Fairness needs a binary label that contains the positive label; say what is wrong."""
    missing = int(labels.isna().sum())
    if missing:
        return f"label column '{name}' has {missing} missing values"
    values = list(labels.unique())
    if len(values) > 2:
        shown = ", ".join(repr(plain(v)) for v in sorted(values, key=str)[:5])
        return f"label column '{name}' has {len(values)} classes ({shown}); fairness needs two"
    if not any(matches(v, positive) for v in values):
        shown = ", ".join(repr(plain(v)) for v in sorted(values, key=str))
        return (
            f"positive label {positive!r} does not occur in label column '{name}' (values: {shown})"
        )
    return None


def prediction_problem(pred: Any, labels: pd.Series, rows: int) -> str | None:
    """Predictions must be one class label per row, each a class of the label column."""
    if len(pred) != rows:
        return f"the model returned {len(pred)} predictions for {rows} rows"
    import pandas as pd

    classes = list(labels.unique())
    seen = list(pd.unique(pd.Series(pred)))
    strays = [p for p in seen if not any(same_class(p, c) for c in classes)]
    if strays:
        shown = ", ".join(repr(plain(s)) for s in strays[:3])
        return (
            f"the model's predictions include values that are not classes of the label "
            f"({shown}); predict must return class labels, not scores"
        )
    return None


def label_balance(labels: pd.Series) -> dict[str, int]:
    """Rows per label value as text; counted on the column, converted only for the few keys."""
    counts = labels.value_counts(dropna=False)
    return balance_from_counts(counts.index.to_series(), counts)


def balance_from_counts(values: pd.Series, counts: Any) -> dict[str, int]:
    """``label_balance`` from distinct values and their row counts, however they were counted
    (pandas ``value_counts`` or a Spark ``groupBy``): values that read the same are one key."""
    import pandas as pd

    balance: dict[str, int] = {}
    for value, count in zip(values.tolist(), list(counts), strict=True):
        key = MISSING if pd.isna(value) else str(value)
        balance[key] = balance.get(key, 0) + int(count)
    return dict(sorted(balance.items()))
