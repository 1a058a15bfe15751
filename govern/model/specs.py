"""The validated, resolved form of what a policy asks for.

These are what the check modules consume; ``govern.config.policy`` builds them from YAML and rejects
anything malformed before a single check runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TRAINING_CONTEXTS: tuple[str, ...] = ("training", "train")
"""Dataset-input contexts that mark training data: ``train`` is what MLflow's autologging and
many hand-written ``log_input`` calls use. A policy entry may replace the list
(``dataset_context``)."""
EVALUATION_CONTEXTS: tuple[str, ...] = ("evaluation", "eval", "validation", "test")
"""Contexts that mark held-out evaluation data (``eval`` is autologging's); a policy entry may
replace the list (``evaluation_context``)."""


@dataclass(frozen=True)
class ExpectationSpec:
    """One Great Expectations expectation, with placeholders already resolved."""

    type: str
    """snake_case expectation type, e.g. ``expect_column_values_to_be_between``."""
    kwargs: Mapping[str, Any]
    origin: str = ""
    """Where it came from, for messages: ``pack baseline`` or ``policy models[0].expectations``."""


@dataclass(frozen=True)
class Threshold:
    """Inclusive bounds on a disparity; at least one is set."""

    min: float | None = None
    max: float | None = None

    def allows(self, value: float | None) -> bool:
        """An undefined or non-finite value is never within bounds (fail closed)."""
        if value is None or not math.isfinite(value):
            return False
        if self.min is not None and value < self.min:
            return False
        return not (self.max is not None and value > self.max)

    def describe(self) -> str:
        if self.min is not None and self.max is not None:
            return f"between {self.min:g} and {self.max:g}"
        if self.min is not None:
            return f">= {self.min:g}"
        return f"<= {self.max:g}"

    def to_dict(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        return out


@dataclass(frozen=True)
class FairnessSpec:
    """Which group metrics to compute and which disparities must stay within bounds."""

    min_group_size: int = 30
    metrics: tuple[str, ...] = ()
    """fairlearn metric names, e.g. ``selection_rate``."""
    thresholds: Mapping[str, Threshold] = field(default_factory=dict)
    """fairlearn disparity name -> bounds, e.g. ``demographic_parity_ratio``."""
    data: str | None = None
    """``evaluation`` or ``training``: which data the metrics are computed on; ``None`` means
    the evaluation data when the run logged it, else the training data (in-sample)."""
    not_applicable: str | None = None
    """The policy's reason fairness does not apply; fairness is then not computed."""


METRICS: tuple[str, ...] = (
    "selection_rate",
    "true_positive_rate",
    "true_negative_rate",
    "false_positive_rate",
    "false_negative_rate",
    "accuracy_score",
    "balanced_accuracy_score",
    "precision_score",
    "recall_score",
    "f1_score",
    "zero_one_loss",
)
"""fairlearn/scikit-learn metric names govern supports: all are functions of confusion counts, which
is what lets the rows be collapsed before fairlearn sees them."""

DISPARITIES: dict[str, tuple[str, ...]] = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equalized_odds_ratio": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity_difference": ("true_positive_rate",),
    "equal_opportunity_ratio": ("true_positive_rate",),
    **{f"{m}_{t}": (m,) for m in METRICS for t in ("difference", "ratio")},
}
"""Disparity name -> the group metrics it is computed from."""

DEFAULT_METRICS: tuple[str, ...] = ("selection_rate", "true_positive_rate", "false_positive_rate")
