"""Audit model versions: lineage, integrity, data quality and fairness, then record the verdict.

Every step that can go wrong becomes a check with status ``error`` rather than an exception that
ends the run: one broken version must not hide the verdicts of the others, and a step that did not
run can never be mistaken for a pass (``verdict_of`` treats any error as an error verdict).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import platform
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern import __version__
from govern.config.policy import ModelPolicy, Policy, resolve_expectations
from govern.errors import GovernError
from govern.model.results import (
    AuditRun,
    CheckResult,
    FairnessResult,
    HistoryEntry,
    Representation,
    TrainingData,
    VersionResult,
)
from govern.redact import redact_uri
from govern.registry.client import READY, Registry, VersionInfo, one_line
from govern.registry.lineage import (
    TAG_LABEL,
    TAG_POSITIVE_LABEL,
    TAG_SENSITIVE,
    TAG_SHA256,
    fetch_training_data,
    find_lineage,
    mlflow_digest,
    read_table,
    sha256_of,
)

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[str, bool], None]
"""Receives a message and whether it is transient (a "now auditing" status a terminal may
overwrite and a log may drop) or a line to keep."""

TAG_STATUS = "govern.status"
TAG_AUDITED_AT = "govern.audited_at"
TAG_AUDIT_RUN = "govern.audit_run_id"
TAG_POLICY_SHA = "govern.policy_sha256"
TAG_FINGERPRINT = "govern.fingerprint"
DEPENDENCIES = ("mlflow", "great-expectations", "fairlearn", "pandas", "scikit-learn", "jinja2")


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def environment() -> dict[str, str]:
    """Versions of what produced the evidence, for the report and results.json."""
    env = {"python": platform.python_version(), "govern": __version__}
    for dist in DEPENDENCIES:
        try:
            env[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            env[dist] = "not installed"
    return env


def _check(id_: str, kind: str, status: str, summary: str, **kw: Any) -> CheckResult:
    return CheckResult(id=id_, kind=kind, status=status, summary=summary, **kw)


def _iso_ms(ms: int | None) -> str | None:
    if not ms:
        return None
    return (
        datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


class _VersionAudit:
    """State gathered while auditing one version; turned into a frozen VersionResult at the end."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        info: VersionInfo,
        load_model: bool,
        reuse: bool = False,
    ):
        self.registry = registry
        self.policy = policy
        self.info = info
        self.load_model = load_model
        self.reuse = reuse
        self.model_dir: Path | None = None
        self.model_error: str | None = None
        self.started = utcnow()
        self.checks: list[CheckResult] = []
        self.training: TrainingData | None = None
        self.fairness: FairnessResult | None = None
        self.representation: tuple[Representation, ...] = ()
        self.run_id: str | None = info.run_id
        self.metadata: dict[str, Any] = {
            "registered_by": info.user_id,
            "registered_at": _iso_ms(info.creation_timestamp),
            "status": info.status,
            "tags": {k: v for k, v in info.tags.items() if not k.startswith("govern.")},
        }

    def add(self, check: CheckResult) -> None:
        self.checks.append(check)

    def result(self, entry: ModelPolicy | None) -> VersionResult:
        return VersionResult(
            model=self.info.model,
            version=self.info.version,
            aliases=self.info.aliases,
            run_id=self.run_id,
            checks=tuple(self.checks),
            started_at=self.started,
            finished_at=utcnow(),
            training_data=self.training,
            fairness=self.fairness,
            policy_match=entry.match if entry else None,
            packs=tuple(p.name for p in entry.packs) if entry else (),
            model_source=redact_uri(self.info.source),
            description=self.info.description,
            metadata=self.metadata,
            representation=self.representation,
        )

    def run(self) -> VersionResult:
        info = self.info
        entry = self.policy.for_model(info.model)
        if entry is None:
            self.add(
                _check(
                    "policy.match",
                    "policy",
                    "fail",
                    f"no policy entry matches model '{info.model}': unaudited models fail closed",
                )
            )
            return self.result(None)
        self.metadata["packs_sha256"] = {p.name: p.sha256 for p in entry.packs}
        if info.status != READY:
            self.add(
                _check(
                    "lineage.version_status",
                    "lineage",
                    "error",
                    f"version status is {info.status or 'unknown'}, not READY: nothing to audit",
                )
            )
            return self.result(entry)
        try:
            lineage = find_lineage(self.registry, info, entry.dataset)
        except GovernError as exc:
            self.add(_check("lineage.training_data", "lineage", "error", str(exc)))
            return self.result(entry)
        self.run_id = lineage.run_id
        training = lineage.training
        self.add(
            _check(
                "lineage.training_data",
                "lineage",
                "pass",
                f"training data '{training.name}' ({redact_uri(training.uri)}) is the "
                f"'training' input of run {lineage.run_id}",
                observed={"run_id": lineage.run_id, "dataset": training.name},
                details={"other_inputs": list(lineage.other_inputs)},
            )
        )
        with tempfile.TemporaryDirectory(prefix="govern-") as tmp:
            try:
                path = fetch_training_data(self.registry, training, Path(tmp) / "data")
                sha = sha256_of(path)
                self._download_model(Path(tmp))
                fingerprint = self.fingerprint(sha)
                if fingerprint:
                    self.metadata["fingerprint"] = fingerprint
                if self.reuse:
                    reused = self._reusable(sha)
                    if reused is not None:
                        return reused
                df = read_table(path)
            except GovernError as exc:
                self.add(_check("lineage.load", "lineage", "error", str(exc)))
                return self.result(entry)
            except OSError as exc:
                self.add(_check("lineage.load", "lineage", "error", f"cannot read data: {exc}"))
                return self.result(entry)
            self._audit_data(entry, training, df, sha, Path(tmp))
        return self.result(entry)

    def _audit_data(
        self, entry: ModelPolicy, training: Any, df: pd.DataFrame, sha: str, tmp: Path
    ) -> None:
        recomputed: str | None = None
        if training.is_pandas:
            try:
                recomputed = mlflow_digest(df)
            except Exception as exc:
                self.add(
                    _check(
                        "integrity.mlflow_digest",
                        "integrity",
                        "error",
                        f"cannot recompute MLflow's digest: {one_line(exc)}",
                    )
                )
        label = entry.label or training.tags.get(TAG_LABEL)
        positive = entry.positive_label
        if positive is None:
            positive = training.tag_json(TAG_POSITIVE_LABEL)
        if positive is None:
            positive = 1
        sensitive: tuple[str, ...]
        if entry.sensitive_features is not None:
            sensitive = entry.sensitive_features
        else:
            logged = training.tag_json(TAG_SENSITIVE)
            sensitive = tuple(str(s) for s in logged) if isinstance(logged, list) else ()
        logged_sha = training.tags.get(TAG_SHA256)
        self.training = TrainingData(
            name=training.name,
            source=redact_uri(training.uri),
            source_type=training.source_type,
            mlflow_digest=training.digest,
            recomputed_digest=recomputed,
            sha256=sha,
            logged_sha256=logged_sha,
            rows=len(df),
            columns=tuple(str(c) for c in df.columns),
            dtypes={str(c): str(t) for c, t in df.dtypes.items()},
            label=label,
            positive_label=positive,
            sensitive_features=sensitive,
            missing={str(c): int(n) for c, n in df.isna().sum().items()},
            label_balance=_balance(df[label]) if label and label in df.columns else {},
        )
        self._describe(entry, df)
        self._integrity(training, recomputed, sha, logged_sha, len(df))
        if len(df) == 0:
            self.add(_check("lineage.rows", "lineage", "error", "the training data has no rows"))
        if not label:
            self.add(
                _check(
                    "lineage.label",
                    "lineage",
                    "error",
                    f"no label column: set 'label' in policy entry '{entry.match}' or log the "
                    "data with govern.track.log_training_data",
                )
            )
        self._quality(entry, df)
        if entry.fairness_spec().thresholds or sensitive:
            self._fairness(entry, df, tmp)

    # The steps below read the label, positive label and sensitive features from
    # ``self.training``, where _audit_data resolved them once (policy first, then govern.track).

    def _describe(self, entry: ModelPolicy, df: pd.DataFrame) -> None:
        from govern.checks.representation import describe_representation

        assert self.training is not None
        label, positive = self.training.label, self.training.positive_label
        sensitive = self.training.sensitive_features

        is_positive = None
        if label and label in df.columns:
            # Compare the few distinct labels, not every row (a 1M-row map costs seconds).
            column = df[label]
            matches = [v for v in column.dropna().unique() if _same(v, positive)]
            is_positive = column.isin(matches)
        try:
            self.representation = describe_representation(
                df, sensitive, is_positive, entry.fairness_spec().min_group_size
            )
        except Exception as exc:  # descriptive only: never blocks the checks
            self.metadata["representation_error"] = one_line(exc)

    def _integrity(
        self,
        training: Any,
        recomputed: str | None,
        sha: str,
        logged_sha: str | None,
        rows: int,
    ) -> None:
        partial = (
            f"; MLflow's digest covers only the first 10,000 of {rows:,} rows"
            if rows > 10_000 and not logged_sha
            else ""
        )
        if not training.is_pandas:
            self.add(
                _check(
                    "integrity.mlflow_digest",
                    "integrity",
                    "error",
                    f"dataset '{training.name}' was not logged from a pandas DataFrame; govern "
                    "cannot recompute its digest",
                    observed=None,
                    threshold=training.digest,
                )
            )
        elif recomputed is not None:
            same = recomputed == training.digest
            self.add(
                _check(
                    "integrity.mlflow_digest",
                    "integrity",
                    "pass" if same else "fail",
                    (
                        f"MLflow digest {recomputed} matches the logged one{partial}"
                        if same
                        else f"MLflow digest of the data is {recomputed}, the training run "
                        f"logged {training.digest}: this is not the data the model was trained on"
                    ),
                    observed=recomputed,
                    threshold=training.digest,
                )
            )
        if logged_sha:
            same = logged_sha == sha
            self.add(
                _check(
                    "integrity.sha256",
                    "integrity",
                    "pass" if same else "fail",
                    (
                        "SHA-256 of the full data matches the one recorded at training"
                        if same
                        else "SHA-256 of the full data differs from the one recorded at "
                        "training: the data changed after the model was trained"
                    ),
                    observed=sha,
                    threshold=logged_sha,
                )
            )

    def _quality(self, entry: ModelPolicy, df: pd.DataFrame) -> None:
        from govern.checks.quality import run_expectations

        assert self.training is not None
        label, sensitive = self.training.label, self.training.sensitive_features
        specs = resolve_expectations(
            entry,
            label=label or "(no label)",
            sensitive_features=sensitive,
            columns=[str(c) for c in df.columns],
        )
        if not specs:
            return
        try:
            self.checks.extend(run_expectations(df, specs))
        except Exception as exc:
            self.add(
                _check(
                    "quality.run",
                    "quality",
                    "error",
                    f"Great Expectations failed: {one_line(exc)}",
                )
            )

    def _fairness(self, entry: ModelPolicy, df: pd.DataFrame, tmp: Path) -> None:
        from govern.checks.fairness import evaluate_fairness

        assert self.training is not None
        label, positive = self.training.label, self.training.positive_label
        sensitive = self.training.sensitive_features

        def error(summary: str, id_: str = "fairness.run") -> None:
            self.add(_check(id_, "fairness", "error", f"fairness not evaluated: {summary}"))

        if not label:
            return error("no label column")
        if label not in df.columns:
            return error(f"label column '{label}' is not in the training data", "fairness.label")
        if not sensitive:
            return error(
                f"no sensitive features: set 'sensitive_features' in policy entry "
                f"'{entry.match}' or log the data with govern.track.log_training_data",
                "fairness.sensitive_features",
            )
        absent = [s for s in sensitive if s not in df.columns]
        if absent:
            return error(
                f"sensitive feature(s) not in the training data: {', '.join(absent)}",
                "fairness.sensitive_features",
            )
        if len(df) == 0:
            return error("the training data has no rows")
        problem = _label_problem(df[label], label, positive)
        if problem:
            return error(problem, "fairness.label")
        try:
            y_pred = self._predict(df, label, tmp)
        except GovernError as exc:
            return error(str(exc), "fairness.model")
        except Exception as exc:
            return error(f"model could not predict: {one_line(exc)}", "fairness.model")
        problem = _prediction_problem(y_pred, df[label], len(df))
        if problem:
            return error(problem, "fairness.model")
        try:
            result, checks = evaluate_fairness(
                df[label].to_numpy(),
                y_pred,
                df[list(sensitive)],
                entry.fairness_spec(),
                positive_label=positive,
            )
        except GovernError as exc:
            return error(str(exc))
        except Exception as exc:
            return error(f"unexpected error: {one_line(exc)}")
        self.fairness = result
        self.checks.extend(checks)

    def _download_model(self, tmp: Path) -> None:
        """Fetch the registered model's files and hash them before anything can execute them."""
        from mlflow.artifacts import download_artifacts

        uri = f"models:/{self.info.model}/{self.info.version}"
        try:
            local = Path(
                download_artifacts(
                    artifact_uri=uri, dst_path=str(tmp / "model"), tracking_uri=self.registry.uri
                )
            )
        except Exception as exc:
            self.model_error = f"cannot download model {uri}: {one_line(exc)}"
            return
        self.model_dir = local
        self.metadata["model_artifact_sha256"] = sha256_of(local)

    def fingerprint(self, data_sha256: str) -> str | None:
        """What an audit of this version is a pure function of; None if not fully known."""
        model_sha = self.metadata.get("model_artifact_sha256")
        if not model_sha:
            return None
        parts = {
            "model": self.info.model,
            "version": self.info.version,
            "model_sha256": model_sha,
            "data_sha256": data_sha256,
            "policy_sha256": self.policy.sha256,
            "govern_version": __version__,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def _reusable(self, data_sha256: str) -> VersionResult | None:
        """The last recorded result of this version, if nothing it depends on has changed.

        Errors are never reused (they are usually transient), and anything unexpected while
        looking means recomputing, never trusting.
        """
        current = self.fingerprint(data_sha256)
        run_id = self.info.tags.get(TAG_AUDIT_RUN)
        if current is None or not run_id:
            return None
        try:
            run = self.registry.client.get_run(run_id)
            if run.data.tags.get(TAG_FINGERPRINT) != current:
                return None
            if run.data.tags.get("govern.verdict") not in ("pass", "fail"):
                return None
            text = self.registry.client.download_artifacts(run_id, "results.json", None)
            with open(text, encoding="utf-8") as fh:
                previous = AuditRun.from_dict(json.load(fh))
        except Exception:
            return None
        for version in previous.versions:
            if (version.model, version.version) == (self.info.model, self.info.version):
                if version.verdict != run.data.tags.get("govern.verdict"):
                    return None
                return replace(
                    version,
                    aliases=self.info.aliases,
                    report=None,
                    metadata={
                        **version.metadata,
                        "fingerprint": current,
                        "reused_from": {
                            "audit_run_id": run_id,
                            "audited_at": version.finished_at,
                        },
                    },
                )
        return None

    def _predict(self, df: pd.DataFrame, label: str, tmp: Path) -> Any:
        """Load the registered model exactly as stored (already hashed) and predict."""
        from govern.errors import DataError

        if not self.load_model:
            raise DataError("model loading disabled (--no-load-model)")
        if self.model_dir is None:
            raise DataError(self.model_error or "model was not downloaded")
        import mlflow.pyfunc

        uri = f"models:/{self.info.model}/{self.info.version}"
        try:
            model = mlflow.pyfunc.load_model(str(self.model_dir))
        except Exception as exc:
            raise DataError(f"cannot load model {uri}: {one_line(exc)}") from exc
        signature = getattr(model.metadata, "signature", None)
        features = [c for c in df.columns if c != label]
        if signature is not None and signature.inputs is not None:
            names = [n for n in (signature.inputs.input_names() or []) if isinstance(n, str)]
            self.metadata["signature_inputs"] = str(signature.inputs)
            if signature.outputs is not None:
                self.metadata["signature_outputs"] = str(signature.outputs)
            if names:
                missing = [n for n in names if n not in df.columns]
                if missing:
                    raise DataError(
                        "the model's input signature needs columns absent from the training "
                        f"data: {', '.join(missing)}"
                    )
                features = names
        try:
            pred = model.predict(df[features])
        except Exception as exc:
            raise DataError(f"model {uri} could not predict: {one_line(exc)}") from exc
        return _flatten(pred)


def _flatten(pred: Any) -> Any:
    import numpy as np
    import pandas as pd

    from govern.errors import DataError

    if isinstance(pred, pd.DataFrame):
        if pred.shape[1] != 1:
            raise DataError(
                f"the model returned {pred.shape[1]} columns; fairness needs one label per row"
            )
        return pred.iloc[:, 0].to_numpy()
    if isinstance(pred, pd.Series):
        return pred.to_numpy()
    arr = np.asarray(pred)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(
            f"the model returned an array of shape {arr.shape}; fairness needs one label per row"
        )
    return arr


def _label_problem(labels: pd.Series, name: str, positive: Any) -> str | None:
    """Fairness needs a binary label that contains the positive label; say what is wrong."""
    missing = int(labels.isna().sum())
    if missing:
        return f"label column '{name}' has {missing} missing values"
    values = list(labels.unique())
    if len(values) > 2:
        shown = ", ".join(repr(_plain(v)) for v in sorted(values, key=str)[:5])
        return f"label column '{name}' has {len(values)} classes ({shown}); fairness needs two"
    if not any(_same(v, positive) for v in values):
        shown = ", ".join(repr(_plain(v)) for v in sorted(values, key=str))
        return (
            f"positive label {positive!r} does not occur in label column '{name}' (values: {shown})"
        )
    return None


def _prediction_problem(pred: Any, labels: pd.Series, rows: int) -> str | None:
    if len(pred) != rows:
        return f"the model returned {len(pred)} predictions for {rows} rows"
    import pandas as pd

    classes = list(labels.unique())
    seen = list(pd.unique(pd.Series(pred)))
    strays = [p for p in seen if not any(_same(p, c) for c in classes)]
    if strays:
        shown = ", ".join(repr(_plain(s)) for s in strays[:3])
        return (
            f"the model's predictions include values that are not classes of the label "
            f"({shown}); predict must return class labels, not scores"
        )
    return None


def _balance(labels: pd.Series) -> dict[str, int]:
    """Rows per label value as text; counted on the column, converted only for the few keys."""
    import pandas as pd

    balance: dict[str, int] = {}
    for value, count in labels.value_counts(dropna=False).items():
        key = "(missing)" if pd.isna(value) else str(value)
        balance[key] = balance.get(key, 0) + int(count)
    return dict(sorted(balance.items()))


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _same(a: Any, b: Any) -> bool:
    """Label equality across dtypes: 1 == 1.0 == True, "1" only equals "1"."""
    a, b = _plain(a), _plain(b)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


def record_audit(
    registry: Registry, policy: Policy, result: VersionResult, report_html: str, results_json: str
) -> str:
    """Record the audit as a run in the audit experiment, then tag the version.

    The tags go last: if anything before them fails, the version shows no new verdict rather
    than one without evidence behind it. The training run is never touched.
    """
    client = registry.client
    experiment_id = registry.audit_experiment_id(policy.audit_experiment)
    run = registry.call(
        "creating the audit run",
        client.create_run,
        experiment_id,
        run_name=f"{result.model}-v{result.version}"[:250],
        tags={
            "govern.model": result.model,
            "govern.version": result.version,
            "govern.verdict": result.verdict,
            TAG_POLICY_SHA: policy.sha256,
            "govern.training_run_id": result.run_id or "",
            "govern.training_sha256": (result.training_data.sha256 if result.training_data else "")
            or "",
            "govern.version_tag": __version__,
            TAG_FINGERPRINT: str(result.metadata.get("fingerprint") or ""),
        },
    )
    run_id = run.info.run_id
    from mlflow.entities import Metric

    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    metrics = []
    if result.fairness:
        for name, value in result.fairness.disparities.items():
            if value is not None:
                metrics.append(Metric(name, float(value), now_ms, 0))
    counts = {s: sum(1 for c in result.checks if c.status == s) for s in ("pass", "fail", "error")}
    metrics.extend(Metric(f"checks_{s}", float(n), now_ms, 0) for s, n in counts.items())
    registry.call("logging audit metrics", client.log_batch, run_id, metrics=metrics)
    registry.call("uploading results.json", client.log_text, run_id, results_json, "results.json")
    registry.call("uploading report.html", client.log_text, run_id, report_html, "report.html")
    registry.call("finishing the audit run", client.set_terminated, run_id, "FINISHED")
    registry.set_version_tags(
        VersionInfo(result.model, result.version, (), None, "", READY),
        {
            TAG_STATUS: result.verdict,
            TAG_AUDITED_AT: result.finished_at,
            TAG_AUDIT_RUN: run_id,
            TAG_POLICY_SHA: policy.sha256,
        },
    )
    return str(run_id)


def audit_history(
    registry: Registry, policy: Policy, model: str, version: str, limit: int = 20
) -> tuple[HistoryEntry, ...]:
    """Earlier audits of this version from the audit experiment, newest first.

    History is context for a reviewer, not evidence for the verdict: if it cannot be read the
    report says so and the audit goes on.
    """
    client = registry.client
    experiment = registry.call(
        f"experiment '{policy.audit_experiment}'",
        client.get_experiment_by_name,
        policy.audit_experiment,
    )
    if experiment is None:
        return ()

    def quoted(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    runs = registry.call(
        f"reading audit history of {model}/{version}",
        client.search_runs,
        [experiment.experiment_id],
        filter_string=f"tags.`govern.model` = {quoted(model)} "
        f"and tags.`govern.version` = {quoted(version)}",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    entries = []
    for run in runs:
        tags = run.data.tags
        if tags.get("govern.model") != model or tags.get("govern.version") != version:
            continue
        entries.append(
            HistoryEntry(
                audit_run_id=run.info.run_id,
                audited_at=_iso_ms(run.info.start_time) or "",
                verdict=tags.get("govern.verdict", ""),
                policy_sha256=tags.get(TAG_POLICY_SHA),
                disparities={
                    k: float(v) for k, v in run.data.metrics.items() if not k.startswith("checks_")
                },
            )
        )
    return tuple(entries)


def new_run(
    registry: Registry, policy: Policy, versions: Sequence[VersionResult], started: str
) -> AuditRun:
    return AuditRun(
        govern_version=__version__,
        started_at=started,
        finished_at=utcnow(),
        policy_sha256=policy.sha256,
        policy_path=policy.path,
        tracking_uri=registry.display_uri,
        versions=tuple(versions),
        policy_text=policy.text,
        environment=environment(),
    )


def audit_one(
    registry: Registry,
    policy: Policy,
    info: VersionInfo,
    *,
    write: bool = True,
    load_model: bool = True,
    templates: Path | None = None,
    reuse: bool = False,
) -> VersionResult:
    """Audit one version and, unless ``write`` is false, record the verdict in the registry.

    With ``reuse``, a version whose model files, training data, policy and govern version are
    unchanged since its last recorded pass or fail gets that recorded result back (marked in
    ``metadata.reused_from``) instead of a recomputation; nothing new is written for it.
    """
    try:
        result = _VersionAudit(registry, policy, info, load_model, reuse).run()
    except Exception as exc:  # a bug or fault in a step must still end as an error verdict
        result = VersionResult(
            model=info.model,
            version=info.version,
            aliases=info.aliases,
            run_id=info.run_id,
            checks=(
                _check(
                    "audit.internal",
                    "internal",
                    "error",
                    f"audit stopped: {exc if isinstance(exc, GovernError) else one_line(exc)}",
                ),
            ),
            started_at=utcnow(),
            finished_at=utcnow(),
        )
    try:
        result = replace(result, history=audit_history(registry, policy, info.model, info.version))
    except GovernError as exc:
        result = replace(result, metadata={**result.metadata, "history_error": str(exc)})
    if not write or result.metadata.get("reused_from"):
        return result
    from govern.render.html import render_version_report

    try:
        single = new_run(registry, policy, [result], result.started_at)
        html = render_version_report(result, single, templates=templates)
        payload = json.dumps(single.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        run_id = record_audit(registry, policy, result, html, payload)
    except GovernError as exc:
        return replace(
            result,
            checks=(
                *result.checks,
                _check("registry.record", "registry", "error", f"verdict not recorded: {exc}"),
            ),
        )
    return replace(result, metadata={**result.metadata, "audit_run_id": run_id})


class DeadlineExceeded(BaseException):
    """Raised by the --timeout alarm; a BaseException so no ``except Exception`` swallows it."""


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt whatever is running (a hung registry call, a slow model) after ``seconds``.

    Uses SIGALRM, so it works in the main thread of a Unix process (the CLI); elsewhere the
    deadline is still checked between versions.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def alarm(signum: int, frame: Any) -> None:
        raise DeadlineExceeded()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds or 0), 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def not_audited(info: VersionInfo, kind: str, reason: str) -> VersionResult:
    """A version the run could not reach: an error with the reason, never silently absent."""
    now = utcnow()
    return VersionResult(
        model=info.model,
        version=info.version,
        aliases=info.aliases,
        run_id=info.run_id,
        checks=(_check("audit.not_audited", kind, "error", f"not audited: {reason}"),),
        started_at=now,
        finished_at=now,
    )


def audit(
    registry: Registry,
    policy: Policy,
    versions: Sequence[VersionInfo],
    *,
    write: bool = True,
    load_model: bool = True,
    templates: Path | None = None,
    progress: Progress | None = None,
    timeout: float | None = None,
    reuse: bool = False,
    jobs: int = 1,
) -> AuditRun:
    """Audit versions one after another; every version ends with a verdict.

    When a version ends in error the registry is pinged; if it is gone, the remaining versions
    are reported as not audited at once instead of each waiting out its own retries. With
    ``timeout`` (seconds for the whole run) the version in progress is interrupted and the rest
    are reported as not audited. With ``jobs`` > 1 versions are audited in that many worker
    processes (each imports the heavy libraries once); results come back in input order.
    """
    if jobs > 1 and len(versions) > 1:
        return _audit_parallel(
            registry,
            policy,
            versions,
            write=write,
            load_model=load_model,
            templates=templates,
            progress=progress,
            timeout=timeout,
            reuse=reuse,
            jobs=jobs,
        )
    started = utcnow()
    results: list[VersionResult] = []
    total = len(versions)
    stop_reason: tuple[str, str] | None = None
    try:
        with _deadline(timeout):
            for n, info in enumerate(versions, 1):
                if progress:
                    progress(f"[{n}/{total}] auditing {info.ref}", True)
                try:
                    result = audit_one(
                        registry,
                        policy,
                        info,
                        write=write,
                        load_model=load_model,
                        templates=templates,
                        reuse=reuse,
                    )
                except DeadlineExceeded:
                    results.append(
                        not_audited(
                            info,
                            "internal",
                            f"--timeout of {timeout:g} s reached during this version",
                        )
                    )
                    raise
                results.append(result)
                if progress:
                    bad = result.failing_checks()
                    why = f": {bad[0].summary}" if bad else ""
                    progress(f"[{n}/{total}] {info.ref}: {result.verdict.upper()}{why}", False)
                if result.verdict == "error":
                    try:
                        registry.ping()
                    except GovernError as exc:
                        stop_reason = ("registry", f"registry unreachable ({exc})")
                        break
    except DeadlineExceeded:
        stop_reason = ("internal", f"--timeout of {timeout:g} s reached")
    if stop_reason is not None:
        done = {(r.model, r.version) for r in results}
        remaining = [v for v in versions if (v.model, v.version) not in done]
        if progress and remaining:
            progress(
                f"stopping: {stop_reason[1]}; {len(remaining)} version(s) not audited: "
                + ", ".join(v.ref for v in remaining[:20])
                + (" ..." if len(remaining) > 20 else ""),
                False,
            )
        results.extend(not_audited(v, stop_reason[0], stop_reason[1]) for v in remaining)
    return new_run(registry, policy, results, started)


_WORKER: dict[str, Any] = {}


def _init_worker(
    uri: str, policy: Policy, write: bool, load_model: bool, templates: Path | None, reuse: bool
) -> None:
    """Runs once per worker process: one registry connection, heavy imports paid once."""
    import warnings

    warnings.filterwarnings("ignore")
    _WORKER.update(
        registry=Registry(uri),
        policy=policy,
        options={
            "write": write,
            "load_model": load_model,
            "templates": templates,
            "reuse": reuse,
        },
    )


def _audit_in_worker(info: VersionInfo) -> VersionResult:
    return audit_one(_WORKER["registry"], _WORKER["policy"], info, **_WORKER["options"])


def _audit_parallel(
    registry: Registry,
    policy: Policy,
    versions: Sequence[VersionInfo],
    *,
    write: bool,
    load_model: bool,
    templates: Path | None,
    progress: Progress | None,
    timeout: float | None,
    reuse: bool,
    jobs: int,
) -> AuditRun:
    """Audit in a pool of spawned processes; bounded by ``timeout`` and a dead registry.

    Processes are spawned, not forked: a fork would copy the parent's open database and HTTP
    connections into every worker.
    """
    import multiprocessing
    import time

    started = utcnow()
    total = len(versions)
    deadline = time.monotonic() + timeout if timeout else None
    ctx = multiprocessing.get_context("spawn")
    results: dict[int, VersionResult] = {}
    stop_reason: tuple[str, str] | None = None
    pool = ctx.Pool(
        processes=min(jobs, total),
        initializer=_init_worker,
        initargs=(registry.uri, policy, write, load_model, templates, reuse),
    )
    try:
        pending = {
            i: pool.apply_async(_audit_in_worker, (info,)) for i, info in enumerate(versions)
        }
        if progress:
            progress(f"auditing {total} versions with {min(jobs, total)} worker processes", False)
        while pending and stop_reason is None:
            if deadline is not None and time.monotonic() > deadline:
                stop_reason = ("internal", f"--timeout of {timeout:g} s reached")
                break
            finished = [i for i, r in pending.items() if r.ready()]
            if not finished:
                time.sleep(0.05)
                continue
            for i in finished:
                handle = pending.pop(i)
                info = versions[i]
                try:
                    result = handle.get()
                except Exception as exc:  # a worker crashed: that version is an error
                    result = not_audited(info, "internal", f"worker failed: {one_line(exc)}")
                results[i] = result
                if progress:
                    bad = result.failing_checks()
                    why = f": {bad[0].summary}" if bad else ""
                    progress(
                        f"[{len(results)}/{total}] {info.ref}: {result.verdict.upper()}{why}", False
                    )
                if result.verdict == "error" and stop_reason is None:
                    try:
                        registry.ping()
                    except GovernError as exc:
                        stop_reason = ("registry", f"registry unreachable ({exc})")
    finally:
        if stop_reason is not None:
            pool.terminate()
        else:
            pool.close()
        pool.join()
    if stop_reason is not None:
        remaining = [v for i, v in enumerate(versions) if i not in results]
        if progress and remaining:
            progress(
                f"stopping: {stop_reason[1]}; {len(remaining)} version(s) not audited: "
                + ", ".join(v.ref for v in remaining[:20])
                + (" ..." if len(remaining) > 20 else ""),
                False,
            )
        for i, info in enumerate(versions):
            if i not in results:
                results[i] = not_audited(info, stop_reason[0], stop_reason[1])
    return new_run(registry, policy, [results[i] for i in range(total)], started)
