"""From a model version to the exact training data it was fitted on.

MLflow records lineage as version -> run -> dataset inputs; the input tagged with context
``training`` is the training set. Only that link is trusted: govern never guesses a dataset from
names or paths, and any ambiguity is an error the user resolves in the policy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from govern.errors import LineageError
from govern.model.specs import EVALUATION_CONTEXTS, TRAINING_CONTEXTS
from govern.registry.client import Registry, VersionInfo, one_line

TRAINING_CONTEXT = "training"
"""The context ``govern.track`` logs training data with."""
CONTEXT_TAG = "mlflow.data.context"
# Dataset-input tags written by govern.track at training time.
TAG_LABEL = "govern.label"
TAG_POSITIVE_LABEL = "govern.positive_label"
TAG_SENSITIVE = "govern.sensitive_features"
TAG_SHA256 = "govern.sha256"
TAG_DELTA_VERSION = "govern.delta_version"
"""The Delta table version govern.track wrote: MLflow records none for version 0 (it drops a
falsy version) and none for tables it does not detect (cloud paths)."""
TAG_ROW_FINGERPRINT = "govern.row_fingerprint"
"""The Spark engine's order-independent row fingerprint, recorded by govern.track for Spark
DataFrames (``govern.registry.spark_integrity``)."""


@dataclass(frozen=True)
class TrainingInput:
    """A dataset input of the training run, as MLflow recorded it."""

    name: str
    digest: str
    source_type: str
    source_json: str
    schema_json: str | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        try:
            data = json.loads(self.source_json)
        except (TypeError, ValueError):
            return str(self.source_json)
        if isinstance(data, dict):
            for key in ("uri", "url", "path", "table_name"):
                if isinstance(data.get(key), str):
                    return str(data[key])
        return str(self.source_json)

    @property
    def is_pandas(self) -> bool:
        """MLflow's pandas digest only applies to datasets logged from a DataFrame."""
        return bool(self.schema_json) and "mlflow_colspec" in str(self.schema_json)

    def tag_json(self, key: str) -> Any:
        """A govern.track tag, JSON-decoded; ``None`` when absent or unreadable."""
        raw = self.tags.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw


@dataclass(frozen=True)
class Lineage:
    run_id: str
    training: TrainingInput
    other_inputs: tuple[str, ...] = ()
    context: str = TRAINING_CONTEXT
    """The context the training input was logged with (``training`` or ``train``)."""
    evaluation: tuple[TrainingInput, ...] = ()
    """Inputs logged with an evaluation context, in the order the run lists them."""


def training_run_id(registry: Registry, info: VersionInfo) -> str:
    """The run that produced the version; for a logged model (``models:/m-...``) its source run."""
    if info.run_id:
        return info.run_id
    model_id = info.model_id
    if not model_id and info.source.startswith("models:/m-"):
        model_id = info.source[len("models:/") :].split("/")[0]
    if model_id:
        logged = registry.call(
            f"logged model {model_id} of {info.ref}", registry.client.get_logged_model, model_id
        )
        if getattr(logged, "source_run_id", None):
            return str(logged.source_run_id)
    raise LineageError(f"{info.ref}: no training run is recorded for this version")


def _quoted(contexts: Sequence[str]) -> str:
    return " or ".join(f"'{c}'" for c in contexts)


def find_lineage(
    registry: Registry,
    info: VersionInfo,
    dataset: str | None = None,
    *,
    training_contexts: Sequence[str] = TRAINING_CONTEXTS,
    evaluation_contexts: Sequence[str] = EVALUATION_CONTEXTS,
) -> Lineage:
    """Follow version -> run -> the single dataset input with a training context."""
    run_id = training_run_id(registry, info)
    try:
        run = registry.client.get_run(run_id)
    except Exception as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise LineageError(f"{info.ref}: training run {run_id} no longer exists") from exc
        raise LineageError(
            f"{info.ref}: cannot read training run {run_id}: {one_line(exc)}"
        ) from exc
    if run.info.lifecycle_stage == "deleted":
        raise LineageError(f"{info.ref}: training run {run_id} was deleted")
    inputs = list(getattr(run.inputs, "dataset_inputs", None) or [])
    training: list[tuple[str, TrainingInput]] = []
    evaluation: list[TrainingInput] = []
    others: list[str] = []
    for di in inputs:
        tags = {t.key: t.value for t in (di.tags or [])}
        ds = di.dataset
        record = TrainingInput(
            name=ds.name,
            digest=ds.digest,
            source_type=ds.source_type,
            source_json=ds.source,
            schema_json=getattr(ds, "schema", None),
            tags=tags,
        )
        context = tags.get(CONTEXT_TAG) or ""
        if context in training_contexts:
            training.append((context, record))
        else:
            if context in evaluation_contexts:
                evaluation.append(record)
            others.append(f"{ds.name} ({context or 'no context'})")
    if dataset is not None:
        chosen = [t for t in training if t[1].name == dataset]
        if not chosen:
            names = ", ".join(t[1].name for t in training) or "none"
            raise LineageError(
                f"{info.ref}: run {run_id} has no training dataset named '{dataset}' "
                f"(training datasets: {names})"
            )
        training = chosen[:1]
    if not training:
        found = f" (other inputs: {', '.join(others)})" if others else ""
        raise LineageError(
            f"{info.ref}: run {run_id} has no dataset input with context "
            f"{_quoted(training_contexts)}{found}"
        )
    if len(training) > 1:
        names = ", ".join(f"'{t.name}' ({t.digest})" for _, t in training)
        raise LineageError(
            f"{info.ref}: run {run_id} has {len(training)} training datasets: {names}; "
            "name one with 'dataset:' in the policy"
        )
    context, chosen_input = training[0]
    return Lineage(
        run_id=run_id,
        training=chosen_input,
        other_inputs=tuple(others),
        context=context,
        evaluation=tuple(evaluation),
    )
