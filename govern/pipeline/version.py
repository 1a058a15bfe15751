"""The audit of one model version, step by step: lineage, load, integrity, quality, fairness.

Every step that can go wrong becomes a check with status ``error`` rather than an exception that
ends the run: one broken version must not hide the verdicts of the others, and a step that did not
run can never be mistaken for a pass (``verdict_of`` treats any error as an error verdict).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.config.policy import ModelPolicy, Policy
from govern.config.waivers import today_utc
from govern.errors import DataError, GovernError
from govern.model.results import (
    CheckKind,
    CheckResult,
    FairnessResult,
    Representation,
    Status,
    TrainingData,
    VersionResult,
)
from govern.pipeline import steps
from govern.pipeline.fingerprint import (
    FLAVOR_LIBRARIES,
    fingerprint,
    installed_version,
    library_versions,
    model_flavors,
    reusable,
)
from govern.pipeline.spark_version import choose_engine, pandas_cannot_read
from govern.pipeline.waivers import apply_waivers, fingerprint_part
from govern.redact import redact_uri
from govern.registry.client import READY, Registry, VersionInfo, one_line
from govern.registry.datasets import (
    download_model,
    fetch_training_data,
    mlflow_digest,
    read_table,
    sha256_of,
)
from govern.registry.lineage import (
    CONTEXT_TAG,
    TAG_SHA256,
    Lineage,
    TrainingInput,
    find_lineage,
)
from govern.registry.record import earliest_pins, iso_ms
from govern.registry.spark_session import SparkSettings

if TYPE_CHECKING:
    import pandas as pd


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def check(id_: str, kind: CheckKind, status: Status, summary: str, **kw: Any) -> CheckResult:
    return CheckResult(id=id_, kind=kind, status=status, summary=summary, **kw)


def error_result(info: VersionInfo, only: CheckResult) -> VersionResult:
    """A version that ended before any step could run: its one check says why."""
    now = utcnow()
    return VersionResult(
        model=info.model,
        version=info.version,
        aliases=info.aliases,
        run_id=info.run_id,
        checks=(only,),
        started_at=now,
        finished_at=now,
    )


def _as_recorded(data: TrainingInput) -> dict[str, Any]:
    """What the run recorded about a dataset, which the integrity checks compare with."""
    return {
        "name": data.name,
        "digest": data.digest,
        "source": data.source_json,
        "tags": dict(data.tags),
    }


def _one_evaluation_input(lineage: Lineage) -> tuple[TrainingInput | None, str | None]:
    """The run's held-out dataset, or why there is none to use (several, with no way to pick)."""
    if len(lineage.evaluation) > 1:
        names = ", ".join(f"'{e.name}'" for e in lineage.evaluation)
        count = len(lineage.evaluation)
        return None, f"run {lineage.run_id} logged {count} evaluation datasets ({names})"
    return (lineage.evaluation[0] if lineage.evaluation else None), None


class VersionAudit:
    """State gathered while auditing one version; turned into a frozen VersionResult at the end."""

    def __init__(
        self,
        registry: Registry,
        policy: Policy,
        info: VersionInfo,
        load_model: bool,
        reuse: bool = False,
        write: bool = True,
        env_manager: str = "local",
        engine: str = "auto",
        spark: SparkSettings | None = None,
    ):
        self.registry = registry
        self.engine = engine
        """``auto``, ``pandas`` or ``spark`` (``govern.registry.spark_session.ENGINES``)."""
        self.spark = spark
        self.env_manager = env_manager
        self.policy = policy
        self.info = info
        self.write = write
        self.pins: dict[str, dict[str, str]] = {}
        self.load_model = load_model
        self.reuse = reuse
        self.model_dir: Path | None = None
        self.model_error: str | None = None
        self.started = utcnow()
        self.today = today_utc()
        self.checks: list[CheckResult] = []
        self.training: TrainingData | None = None
        self.training_context = "training"
        self.evaluation: TrainingData | None = None
        self.evaluation_context = "evaluation"
        self.evaluation_problem: str | None = None
        self.fairness: FairnessResult | None = None
        self.representation: tuple[Representation, ...] = ()
        self.run_id: str | None = info.run_id
        self.metadata: dict[str, Any] = {
            "registered_by": info.user_id,
            "registered_at": iso_ms(info.creation_timestamp),
            "status": info.status,
            "tags": {k: v for k, v in info.tags.items() if not k.startswith("govern.")},
        }
        if load_model:
            self.metadata["model_env_manager"] = env_manager

    def add(self, result: CheckResult) -> None:
        self.checks.append(result)

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
            evaluation_data=self.evaluation,
        )

    def run(self) -> VersionResult:
        """The version's result with the waivers in force applied; a reused result comes back
        as recorded (its fingerprint covers the waivers, so they were applied the same way)."""
        result = self._run()
        if isinstance(result.metadata.get("reused_from"), dict):
            return result
        return apply_waivers(result, self.policy.waivers, self.today)

    def _run(self) -> VersionResult:
        info = self.info
        entry = self.policy.for_model(info.model)
        if entry is None:
            self.add(
                check(
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
                check(
                    "lineage.version_status",
                    "lineage",
                    "error",
                    f"version status is {info.status or 'unknown'}, not READY: nothing to audit",
                )
            )
            return self.result(entry)
        try:
            lineage = find_lineage(
                self.registry,
                info,
                entry.dataset,
                training_contexts=entry.training_contexts,
                evaluation_contexts=entry.evaluation_contexts,
            )
        except GovernError as exc:
            self.add(check("lineage.training_data", "lineage", "error", str(exc)))
            return self.result(entry)
        self.run_id = lineage.run_id
        training = lineage.training
        self.add(
            check(
                "lineage.training_data",
                "lineage",
                "pass",
                f"training data '{training.name}' ({redact_uri(training.uri)}) is the "
                f"'{lineage.context}' input of run {lineage.run_id}",
                observed={"run_id": lineage.run_id, "dataset": training.name},
                details={"other_inputs": list(lineage.other_inputs)},
            )
        )
        evaluation, self.evaluation_problem = _one_evaluation_input(lineage)
        engine = choose_engine(self.engine, training.source_type)
        self.metadata["engine"] = engine
        if engine == "spark":
            from govern.pipeline.spark_version import run_spark

            return run_spark(self, entry, lineage, evaluation)
        problem = pandas_cannot_read(training)
        if problem is not None:
            self.add(check("lineage.load", "lineage", "error", problem))
            return self.result(entry)
        with tempfile.TemporaryDirectory(prefix="govern-") as tmp:
            try:
                path = fetch_training_data(self.registry, training, Path(tmp) / "data")
                sha = sha256_of(path)
                held_out = self._fetch_evaluation(evaluation, Path(tmp) / "evaluation")
                self._download_model(Path(tmp) / "model")
                reused = self._reuse_or_fingerprint(
                    training, evaluation, sha, held_out[1] if held_out else None, "pandas"
                )
                if reused is not None:
                    return reused
                df = read_table(path)
            except GovernError as exc:
                self.add(check("lineage.load", "lineage", "error", str(exc)))
                return self.result(entry)
            except OSError as exc:
                self.add(check("lineage.load", "lineage", "error", f"cannot read data: {exc}"))
                return self.result(entry)
            held_out_frame = self._read_evaluation(evaluation, held_out)
            self.read_pins()
            self._audit_data(entry, lineage.context, training, df, sha)
            self._model_environment(entry)
            if evaluation is not None and held_out_frame is not None and held_out is not None:
                self._audit_evaluation(entry, evaluation, held_out_frame, held_out[1])
            self._quality(entry, df)
            steps.fairness(
                self,
                entry,
                steps.PandasData(df),
                steps.PandasData(held_out_frame) if held_out_frame is not None else None,
            )
        return self.result(entry)

    def _reuse_or_fingerprint(
        self,
        training: TrainingInput,
        evaluation: TrainingInput | None,
        data_sha256: str,
        evaluation_sha256: str | None,
        engine: str,
    ) -> VersionResult | None:
        """Record what this audit's outcome depends on, and return the recorded result when
        ``--reuse`` may take it; both engines decide reuse by this one fingerprint."""
        info = self.info
        current = fingerprint(
            info,
            model_sha256=self.metadata.get("model_artifact_sha256"),
            data_sha256=data_sha256,
            evaluation_sha256=evaluation_sha256,
            policy_digest=self.policy.digest,
            libraries=library_versions(self.model_dir, engine),
            recorded={
                "training": _as_recorded(training),
                "evaluation": _as_recorded(evaluation) if evaluation else None,
            },
            env_manager=self.env_manager,
            waivers=fingerprint_part(self.policy.waivers, info.model, info.version, self.today),
            engine=engine,
            spark_predict=self.spark.predict if self.spark is not None else "sandbox",
        )
        if current:
            self.metadata["fingerprint"] = current
        if self.reuse and self._record_trusted(info):
            return reusable(self.registry, info, current)
        return None

    def read_pins(self) -> None:
        """The hashes earlier audits pinned (trust on first use); unreadable is an error check."""
        info = self.info
        try:
            self.pins = earliest_pins(
                self.registry, self.policy.audit_experiment, info.model, info.version
            )
        except GovernError as exc:
            self.add(
                check(
                    "integrity.pin",
                    "integrity",
                    "error",
                    f"cannot read the hashes pinned by earlier audits: {exc}",
                )
            )

    def _record_trusted(self, info: VersionInfo) -> bool:
        """Under a trust list only a verified record may be reused: a forged or unsigned one
        is recomputed, never copied into new evidence."""
        from govern.pipeline.verify import trusted_keys, verify_record

        trust = self.policy.trust
        if trust is None or not trust.requires_signatures:
            return True
        checked = verify_record(self.registry, info, trusted_keys(self.policy))
        return checked is not None and checked.outcome == "verified"

    def _fetch_evaluation(
        self, evaluation: TrainingInput | None, dest: Path
    ) -> tuple[Path, str] | None:
        """The held-out data's local path and SHA-256; a failure is recorded, not raised: the
        training data's checks still run, and fairness then says why it cannot."""
        if evaluation is None:
            return None
        try:
            path = fetch_training_data(self.registry, evaluation, dest)
            return path, sha256_of(path)
        except (GovernError, OSError) as exc:
            self._evaluation_unusable(evaluation, exc)
            return None

    def _read_evaluation(
        self, evaluation: TrainingInput | None, held_out: tuple[Path, str] | None
    ) -> pd.DataFrame | None:
        if evaluation is None or held_out is None:
            return None
        try:
            return read_table(held_out[0])
        except (GovernError, OSError) as exc:
            self._evaluation_unusable(evaluation, exc)
            return None

    def _evaluation_unusable(self, evaluation: TrainingInput, exc: BaseException) -> None:
        """Held-out data the run logged but govern cannot read is an error whatever fairness
        runs on: logged evidence that cannot be checked is never passed over."""
        self.evaluation_problem = f"evaluation data '{evaluation.name}': {exc}"
        self.add(check("lineage.evaluation_data", "lineage", "error", self.evaluation_problem))

    def _audit_data(
        self,
        entry: ModelPolicy,
        context: str,
        training: TrainingInput,
        df: pd.DataFrame,
        sha: str,
    ) -> None:
        label, positive, sensitive = steps.roles(entry, training)
        self.training = self._measure(
            entry, training, df, sha, (label, positive, sensitive), "training"
        )
        self.training_context = context
        self._describe(entry, df)
        if len(df) == 0:
            self.add(check("lineage.rows", "lineage", "error", "the training data has no rows"))
        if not label:
            self.add(
                check(
                    "lineage.label",
                    "lineage",
                    "error",
                    f"no label column: set 'label' in policy entry '{entry.match}' or log the "
                    "data with govern.track.log_training_data",
                )
            )

    def _measure(
        self,
        entry: ModelPolicy,
        data: TrainingInput,
        df: pd.DataFrame,
        sha: str,
        roles: tuple[str | None, Any, tuple[str, ...]],
        which: str,
    ) -> TrainingData:
        """What the audit measured of one dataset (``which``: training or evaluation), and its
        integrity checks: the training data and the held-out data get the same proof."""
        from govern.checks.integrity import digest_columns, integrity_checks, proof_of
        from govern.checks.labels import label_balance

        label, positive, sensitive = roles
        prefix = "integrity" if which == "training" else "integrity.evaluation"
        pin = self.pins.get(which)

        recomputed: str | None = None
        if data.is_pandas:
            try:
                recomputed = mlflow_digest(df)
            except Exception as exc:
                self.add(
                    check(
                        f"{prefix}.mlflow_digest",
                        "integrity",
                        "error",
                        f"cannot recompute MLflow's digest of '{data.name}': {one_line(exc)}",
                    )
                )
        measured = TrainingData(
            name=data.name,
            source=redact_uri(data.uri),
            source_type=data.source_type,
            mlflow_digest=data.digest,
            recomputed_digest=recomputed,
            sha256=sha,
            logged_sha256=data.tags.get(TAG_SHA256),
            rows=len(df),
            columns=tuple(str(c) for c in df.columns),
            dtypes={str(c): str(t) for c, t in df.dtypes.items()},
            label=label,
            positive_label=positive,
            sensitive_features=sensitive,
            missing={str(c): int(n) for c, n in df.isna().sum().items()},
            label_balance=label_balance(df[label]) if label and label in df.columns else {},
            pinned=dict(pin or {}),
            digest_columns=digest_columns(df) if data.is_pandas else (),
        )
        measured = replace(measured, proof=proof_of(measured, pin, self.write))
        self.checks.extend(
            integrity_checks(
                measured,
                digest_applies=data.is_pandas,
                prefix=prefix,
                pin=pin,
                measured_at=self.started,
                recorded=self.write,
                require=entry.integrity_require,
            )
        )
        return measured

    def _audit_evaluation(
        self, entry: ModelPolicy, evaluation: TrainingInput, df: pd.DataFrame, sha: str
    ) -> None:
        """The held-out data gets its own lineage and integrity checks and the label and
        sensitive-feature baseline; quality and representation stay on the training data."""
        assert self.training is not None
        t = self.training
        self.evaluation_context = evaluation.tags.get(CONTEXT_TAG) or "evaluation"
        self.evaluation = self._measure(
            entry,
            evaluation,
            df,
            sha,
            (t.label, t.positive_label, t.sensitive_features),
            "evaluation",
        )
        self.add(
            check(
                "lineage.evaluation_data",
                "lineage",
                "pass",
                f"evaluation data '{evaluation.name}' ({redact_uri(evaluation.uri)}) is the "
                f"'{self.evaluation_context}' input of run {self.run_id}",
                observed={"dataset": evaluation.name, "rows": len(df)},
            )
        )

    # The steps below read the label, positive label and sensitive features from
    # ``self.training``, where _audit_data resolved them once (policy first, then govern.track).

    def _describe(self, entry: ModelPolicy, df: pd.DataFrame) -> None:
        from govern.checks.labels import positive_rows
        from govern.checks.representation import describe_representation

        assert self.training is not None
        label, positive = self.training.label, self.training.positive_label
        known = label and label in df.columns and positive is not None
        is_positive = positive_rows(df[label], positive) if known else None
        try:
            self.representation = describe_representation(
                df,
                self.training.sensitive_features,
                is_positive,
                entry.fairness_spec().min_group_size,
            )
        except Exception as exc:  # descriptive only: never blocks the checks
            self.metadata["representation_error"] = one_line(exc)

    def _quality(self, entry: ModelPolicy, df: pd.DataFrame) -> None:
        from govern.checks.quality import run_expectations

        steps.quality(self, entry, lambda specs: run_expectations(df, specs))

    def _download_model(self, dest: Path) -> None:
        """Fetch the registered model's files and hash them before anything can execute them."""
        try:
            local = download_model(self.registry, self.info.model, self.info.version, dest)
        except DataError as exc:
            self.model_error = str(exc)
            return
        self.model_dir = local
        self.metadata["model_artifact_sha256"] = sha256_of(local)

    def _model_environment(self, entry: ModelPolicy) -> None:
        """The model's declared pins against the installed versions (recorded for the reader),
        and the check on its flavor's library."""
        from govern.checks.environment import compare, declared_versions, environment_check

        if self.model_dir is None:
            return
        try:
            text = (self.model_dir / "requirements.txt").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        rows = compare(declared_versions(text), installed_version)
        self.metadata["model_requirements"] = rows
        flavors = [
            FLAVOR_LIBRARIES[f] for f in model_flavors(self.model_dir) if f in FLAVOR_LIBRARIES
        ]
        if rows or flavors:
            self.add(environment_check(rows, flavors, strict=entry.model_env == "strict"))
