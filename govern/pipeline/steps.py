"""The steps both engines run the same way, with the engine behind a small interface.

Which data fairness runs on, every precondition before a model is run and every message a
version gets when one does not hold are decided here once, so the pandas engine
(``version.py``) and the Spark engine (``spark_version.py``) cannot drift apart: they differ only
in how the data is held (``FairnessData``) and how expectations are run on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from govern.config.expectations import resolve_expectations
from govern.errors import GovernError, OutOfMemory, PolicyError
from govern.model.results import CheckResult, FairnessResult, TrainingData
from govern.registry.client import one_line
from govern.registry.lineage import TAG_LABEL, TAG_POSITIVE_LABEL, TAG_SENSITIVE, TrainingInput

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from govern.config.policy import ModelPolicy
    from govern.model.specs import ExpectationSpec, FairnessSpec

Roles = tuple[str | None, Any, tuple[str, ...]]
"""(label column, positive label, sensitive features) of a version's data."""


def roles(entry: ModelPolicy, training: TrainingInput) -> Roles:
    """The label, positive label and sensitive features: the policy first, then what
    ``govern.track`` recorded. No default positive label: with labels {0, 1} where 0 is the
    favourable outcome, assuming 1 would compute every rate on the wrong class."""
    label = entry.label or training.tags.get(TAG_LABEL)
    positive = entry.positive_label
    if positive is None:
        positive = training.tag_json(TAG_POSITIVE_LABEL)
    sensitive: tuple[str, ...]
    if entry.sensitive_features is not None:
        sensitive = entry.sensitive_features
    else:
        logged = training.tag_json(TAG_SENSITIVE)
        sensitive = tuple(str(s) for s in logged) if isinstance(logged, list) else ()
    return label, positive, sensitive


def _check(id_: str, kind: Any, status: Any, summary: str) -> CheckResult:
    return CheckResult(id=id_, kind=kind, status=status, summary=summary)


# --- data quality --------------------------------------------------------------------------


def expectation_specs(entry: ModelPolicy, training: TrainingData) -> list[ExpectationSpec]:
    """The entry's expectations resolved for this version's columns, label and features."""
    return resolve_expectations(
        entry,
        label=training.label or "(no label)",
        sensitive_features=training.sensitive_features,
        columns=list(training.columns),
    )


def quality(
    audit: Any, entry: ModelPolicy, run: Callable[[list[ExpectationSpec]], list[CheckResult]]
) -> None:
    """Run the entry's expectations with ``run`` (the engine's ``run_expectations`` on the
    training data). A policy the engine cannot run (expectations GX has no Spark implementation
    for) and any failure of GX are one ``quality.run`` error: never a pass."""
    assert audit.training is not None
    specs = expectation_specs(entry, audit.training)
    if not specs:
        return
    try:
        audit.checks.extend(run(specs))
    except PolicyError as exc:
        audit.add(_check("quality.run", "quality", "error", f"policy error: {exc}"))
    except OutOfMemory as exc:  # the engine says what ran out and what to set
        audit.add(_check("quality.run", "quality", "error", str(exc)))
    except Exception as exc:
        audit.add(
            _check("quality.run", "quality", "error", f"Great Expectations failed: {one_line(exc)}")
        )


# --- fairness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Predicted:
    """What an engine's prediction step returns: its predictions (a numpy array on pandas, the
    confusion value cells on Spark), and the problem with them, if any."""

    values: Any
    problem: str | None
    signature_inputs: str | None = None
    signature_outputs: str | None = None
    where: str | None = None
    """Where the model ran, when the engine has a choice (Spark: the sandboxed local child or
    the cluster's executors); recorded as the version's ``predicted_on``."""


class FairnessData(Protocol):
    """One engine's hold on the data fairness runs on."""

    columns: Sequence[str]
    rows: int

    def label_problem(self, label: str, positive: Any) -> str | None:
        """``labels.label_problem`` of the label column, before any model runs."""

    def predict(
        self, model_dir: Path, label: str, sensitive: tuple[str, ...], uri: str, env_manager: str
    ) -> Predicted:
        """The model's predictions, from a sandboxed child (raises on failure)."""

    def evaluate(
        self,
        predicted: Any,
        label: str,
        sensitive: tuple[str, ...],
        spec: FairnessSpec,
        positive: Any,
    ) -> tuple[FairnessResult, list[CheckResult]]:
        """Group metrics and checks from ``Predicted.values``."""


class PandasData:
    """The pandas engine's ``FairnessData``: a DataFrame in memory."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self.columns: Sequence[str] = list(df.columns)
        self.rows = len(df)

    def label_problem(self, label: str, positive: Any) -> str | None:
        from govern.checks.labels import label_problem

        return label_problem(self.df[label], label, positive)

    def predict(
        self, model_dir: Path, label: str, sensitive: tuple[str, ...], uri: str, env_manager: str
    ) -> Predicted:
        from govern.checks.labels import prediction_problem
        from govern.pipeline.predict import predict

        predictions = predict(model_dir, self.df, label, uri, env_manager=env_manager)
        return Predicted(
            predictions.labels,
            prediction_problem(predictions.labels, self.df[label], len(self.df)),
            predictions.signature_inputs,
            predictions.signature_outputs,
        )

    def evaluate(
        self,
        predicted: Any,
        label: str,
        sensitive: tuple[str, ...],
        spec: FairnessSpec,
        positive: Any,
    ) -> tuple[FairnessResult, list[CheckResult]]:
        from govern.checks.fairness import evaluate_fairness

        return evaluate_fairness(
            self.df[label].to_numpy(),
            predicted,
            self.df[list(sensitive)],
            spec,
            positive_label=positive,
        )


def fairness(
    audit: Any, entry: ModelPolicy, training: FairnessData, held_out: FairnessData | None
) -> None:
    """Fairness, when the policy asks for it (thresholds, or sensitive features to measure):
    on the held-out data when the run logged it (or the policy asks for it), else on the
    training data, marked in-sample everywhere. ``not_applicable`` is recorded, not checked."""
    spec = entry.fairness_spec()
    if spec.not_applicable is not None:
        audit.metadata["fairness_not_applicable"] = spec.not_applicable
        return
    if not (spec.thresholds or (audit.training is not None and audit.training.sensitive_features)):
        return
    assert audit.training is not None
    choice = spec.data
    if audit.evaluation_problem is not None and choice != "training":
        audit.add(
            _check(
                "fairness.data",
                "fairness",
                "error",
                f"fairness not evaluated: {audit.evaluation_problem}",
            )
        )
        return
    if choice == "evaluation" and held_out is None:
        audit.add(
            _check(
                "fairness.data",
                "fairness",
                "error",
                f"fairness not evaluated: policy entry '{entry.match}' asks for it on "
                f"evaluation data, and run {audit.run_id} logged none (contexts: "
                f"{', '.join(entry.evaluation_contexts)})",
            )
        )
        return
    if held_out is not None and choice != "training" and audit.evaluation is not None:
        _fairness_on(audit, entry, held_out, audit.evaluation, audit.evaluation_context, False)
    else:
        _fairness_on(audit, entry, training, audit.training, audit.training_context, True)


def _fairness_on(
    audit: Any,
    entry: ModelPolicy,
    df: FairnessData,
    data: TrainingData,
    context: str,
    in_sample: bool,
) -> None:
    """Every precondition, the prediction and the metrics on one dataset; each way it can go
    wrong is an error check that says why."""
    label, positive = data.label, data.positive_label
    sensitive = data.sensitive_features
    which = "training" if in_sample else "evaluation"

    def error(summary: str, id_: str = "fairness.run") -> None:
        audit.add(_check(id_, "fairness", "error", f"fairness not evaluated: {summary}"))

    if not label:
        return error("no label column")
    if label not in df.columns:
        return error(f"label column '{label}' is not in the {which} data", "fairness.label")
    if not sensitive:
        return error(
            f"no sensitive features: set 'sensitive_features' in policy entry "
            f"'{entry.match}' or log the data with govern.track.log_training_data",
            "fairness.sensitive_features",
        )
    absent = [s for s in sensitive if s not in df.columns]
    if absent:
        return error(
            f"sensitive feature(s) not in the {which} data: {', '.join(absent)}",
            "fairness.sensitive_features",
        )
    if df.rows == 0:
        return error(f"the {which} data has no rows")
    if positive is None:
        return error(
            f"the positive label of '{label}' is unknown: set 'positive_label' in policy "
            f"entry '{entry.match}', or log the data with govern.track.log_training_data"
            "(..., positive_label=...); govern never assumes one",
            "fairness.positive_label",
        )
    problem = df.label_problem(label, positive)
    if problem:
        return error(problem, "fairness.label")
    # The registered model exactly as stored (already hashed), run in a child process that
    # holds no credential (govern.pipeline.sandbox).
    if not audit.load_model:
        return error("model loading disabled (--no-load-model)", "fairness.model")
    if audit.model_dir is None:
        return error(audit.model_error or "model was not downloaded", "fairness.model")
    uri = f"models:/{audit.info.model}/{audit.info.version}"
    try:
        predicted = df.predict(audit.model_dir, label, sensitive, uri, audit.env_manager)
    except GovernError as exc:
        return error(str(exc), "fairness.model")
    except Exception as exc:
        return error(f"model could not predict: {one_line(exc)}", "fairness.model")
    if predicted.signature_inputs is not None:
        audit.metadata["signature_inputs"] = predicted.signature_inputs
    if predicted.signature_outputs is not None:
        audit.metadata["signature_outputs"] = predicted.signature_outputs
    if predicted.where is not None:
        audit.metadata["predicted_on"] = predicted.where
    if predicted.problem:
        return error(predicted.problem, "fairness.model")
    try:
        result, checks = df.evaluate(
            predicted.values, label, sensitive, entry.fairness_spec(), positive
        )
    except GovernError as exc:
        return error(str(exc))
    except Exception as exc:
        return error(f"unexpected error: {one_line(exc)}")
    audit.fairness = replace(
        result,
        data={
            "context": context,
            "name": data.name,
            "source": data.source,
            "sha256": data.sha256,
            "rows": data.rows,
            "in_sample": in_sample,
        },
    )
    audit.checks.extend(checks)
