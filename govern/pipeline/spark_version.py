"""One version's audit on the Spark engine: the same steps as ``version.py``, with the data read,
hashed and measured where it lives.

The driver receives only small things: the file list, one manifest entry per file, counts and
two 64-bit sums, the quality counts GX returns and the confusion cells of the model's
predictions. What to check and every precondition are ``steps.py``'s, shared with the pandas
engine; only how the data is held and counted differs.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError, GovernError, OutOfMemory, PolicyError
from govern.model.results import CheckKind, CheckResult, Status, TrainingData, VersionResult
from govern.pipeline import steps
from govern.redact import redact_uri
from govern.registry.client import one_line
from govern.registry.lineage import (
    CONTEXT_TAG,
    TAG_ROW_FINGERPRINT,
    TAG_SHA256,
    Lineage,
    TrainingInput,
)
from govern.registry.spark_session import SPARK_SOURCE_TYPES, SparkSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from govern.config.policy import ModelPolicy, Policy
    from govern.model.results import CheckResult as Check
    from govern.model.results import FairnessResult
    from govern.model.specs import FairnessSpec
    from govern.registry.spark_datasets import Snapshot

DIGEST_NOT_APPLICABLE = {
    "spark": "not applicable on Spark data (MLflow's Spark digest hashes the query plan)",
    "delta_table": "not applicable on Spark data (MLflow's Spark digest hashes the query plan)",
}
"""Why the Spark engine does not recompute MLflow's digest, by source type."""
DIGEST_NOT_RECOMPUTED = (
    "not recomputed on the Spark engine (MLflow's pandas digest hashes the first 10,000 rows in "
    "the order pandas reads them)"
)
"""The same for data logged from pandas and read on Spark."""


def refuse_unsupported(policy: Policy) -> None:
    """``--engine spark`` is known before any version is audited: a policy entry with an
    expectation GX cannot run on Spark is a policy error naming it (exit 2), before any work.
    (With ``auto`` the engine is chosen per version; there the version gets an error check.)"""
    from govern.checks.spark_quality import unsupported_on_spark

    problems = []
    for entry in policy.entries:
        bad = unsupported_on_spark([t.type for t in entry.expectation_templates()])
        if bad:
            problems.append(f"policy entry '{entry.match}': {', '.join(bad)}")
    if problems:
        raise PolicyError(
            "--engine spark: Great Expectations cannot run these expectations on Spark: "
            f"{'; '.join(problems)}; use --engine pandas for these models, or other expectations"
        )


def choose_engine(requested: str, source_type: str) -> str:
    """``auto``: Spark for the sources only Spark can read (``spark``, ``delta_table``)."""
    if requested == "auto":
        return "spark" if source_type in SPARK_SOURCE_TYPES else "pandas"
    return requested


def pandas_cannot_read(training: TrainingInput) -> str | None:
    """Why the pandas engine cannot read a dataset the Spark engine can, or ``None``."""
    import json

    if training.source_type == "delta_table":
        return (
            f"dataset '{training.name}' is a Delta table: the Spark engine reads it at its "
            "recorded version (--engine auto or --engine spark)"
        )
    if training.source_type == "spark":
        try:
            source = json.loads(training.source_json)
        except ValueError:
            source = {}
        if not (isinstance(source, dict) and source.get("path")):
            return (
                f"dataset '{training.name}' was logged from a Spark table or query: audit it "
                "with --engine auto or --engine spark"
            )
    return None


def driver_failure(
    exc: BaseException, spark: Any, settings: SparkSettings, what: str
) -> GovernError | None:
    """The one-line error when ``exc`` is govern's own Spark running out of memory or its JVM
    being gone (``what``: what it was doing, naming the data), with the setting that gives it
    more; None for any other error, which keeps its own message."""
    from govern.registry.spark_session import (
        SPARK_OOM_EXIT,
        gateway_lost,
        jvm_exit_code,
        out_of_memory,
    )

    cause = out_of_memory(exc)
    code = jvm_exit_code(spark)
    if cause is None and code == SPARK_OOM_EXIT:
        cause = f"its JVM exited with code {code}, Spark's exit code for an OutOfMemoryError"
    if cause is None and not (gateway_lost(exc) or code is not None):
        return None
    if settings.remote:
        where = "the Spark Connect server"
        remedy = "raise spark.driver.memory (and spark.executor.memory) on the cluster"
    else:
        where = "govern's Spark driver"
        now = settings.conf.get("spark.driver.memory", "1g, Spark's default")
        remedy = f"give it more with --spark-conf spark.driver.memory=8g (now {now})"
        if not settings.master.startswith("local"):
            remedy += " or, if a task ran out, --spark-conf spark.executor.memory=8g"
    if cause is not None:
        return OutOfMemory(f"{where} ran out of memory ({cause}) while {what}: {remedy}")
    gone = f"exited with code {code}" if code is not None else "stopped answering"
    if code is None:
        gone += f" ({one_line(exc)})"
    return DataError(
        f"{where} is gone (its JVM {gone}) while {what}; if it ran out of memory, {remedy}"
    )


@contextlib.contextmanager
def on_driver(spark: Any, settings: SparkSettings, what: str) -> Iterator[None]:
    """Run a Spark step; out of memory or a lost JVM becomes ``driver_failure``'s error."""
    try:
        yield
    except GovernError:
        raise
    except Exception as exc:
        failure = driver_failure(exc, spark, settings, what)
        if failure is None:
            raise
        raise failure from exc


def _check(id_: str, kind: CheckKind, status: Status, summary: str, **kw: Any) -> CheckResult:
    return CheckResult(id=id_, kind=kind, status=status, summary=summary, **kw)


class _Read:
    """One dataset as the Spark engine holds it: the snapshot, the lazy frame, its digest."""

    def __init__(self, snapshot: Snapshot, df: DataFrame, manifest: str, files: int):
        self.snapshot = snapshot
        self.df = df
        self.manifest = manifest
        self.files = files


def _read(spark: SparkSession, audit: Any, data: TrainingInput, dest: Path, jars: bool) -> _Read:
    from govern.registry.spark_datasets import manifest_files, read_snapshot, resolve_snapshot
    from govern.registry.spark_integrity import manifest_digest, spark_manifest

    snapshot = resolve_snapshot(audit.registry, data, dest, delta_jars=jars)
    df = read_snapshot(spark, snapshot)
    files = manifest_files(snapshot)
    if not files:
        from govern.errors import DataError

        raise DataError(
            f"{snapshot.description}: no files to hash (a table known only by name); log its "
            "path so the audit can prove the data"
        )
    entries = spark_manifest(spark, snapshot.root, files)
    digest = manifest_digest(entries, single_file=snapshot.single_file)
    return _Read(snapshot, df, digest, len(entries))


def run_spark(
    audit: Any, entry: ModelPolicy, lineage: Lineage, evaluation: TrainingInput | None
) -> VersionResult:
    """The Spark path of ``VersionAudit._run`` after lineage; ``audit`` is the VersionAudit."""
    from govern.registry.spark_session import get_session, has_delta_jars

    settings: SparkSettings = audit.spark or SparkSettings()
    audit.metadata["spark"] = settings.describe()
    training = lineage.training
    try:
        spark = get_session(settings)
        jars = has_delta_jars(spark)
    except GovernError as exc:
        audit.add(_check("lineage.load", "lineage", "error", str(exc)))
        return audit.result(entry)
    except Exception as exc:  # no Java, a bad master URL, an unreachable Spark Connect server
        audit.add(
            _check("lineage.load", "lineage", "error", f"cannot start Spark: {one_line(exc)}")
        )
        return audit.result(entry)
    audit.metadata["spark"]["delta_reader"] = "delta jars" if jars else "deltalake file list"
    named = f"'{training.name}'"
    with tempfile.TemporaryDirectory(prefix="govern-") as tmp:
        try:
            with on_driver(spark, settings, f"reading the training data {named}"):
                read = _read(spark, audit, training, Path(tmp) / "data", jars)
            held_out = None
            if evaluation is not None:
                try:
                    what = f"reading the evaluation data '{evaluation.name}'"
                    with on_driver(spark, settings, what):
                        held_out = _read(spark, audit, evaluation, Path(tmp) / "evaluation", jars)
                except (GovernError, OSError) as exc:
                    audit._evaluation_unusable(evaluation, exc)
            audit._download_model(Path(tmp) / "model")
            reused = audit._reuse_or_fingerprint(
                training,
                evaluation,
                read.manifest,
                held_out.manifest if held_out else None,
                "spark",
            )
            if reused is not None:
                return reused
        except GovernError as exc:
            audit.add(_check("lineage.load", "lineage", "error", str(exc)))
            return audit.result(entry)
        except Exception as exc:
            audit.add(
                _check("lineage.load", "lineage", "error", f"cannot read data: {one_line(exc)}")
            )
            return audit.result(entry)
        audit.read_pins()

        def with_driver(what: str) -> contextlib.AbstractContextManager[None]:
            return on_driver(spark, settings, what)

        measured = _guarded(
            audit,
            "lineage.measure",
            lambda: _roles_and_measure(audit, entry, lineage, read),
            with_driver(f"measuring the training data {named}"),
        )
        if measured is None:
            return audit.result(entry)
        audit._model_environment(entry)
        if evaluation is not None and held_out is not None and audit.training is not None:
            t = audit.training
            audit.evaluation_context = evaluation.tags.get(CONTEXT_TAG) or "evaluation"
            roles = (t.label, t.positive_label, t.sensitive_features)
            audit.evaluation = _guarded(
                audit,
                "lineage.evaluation_data",
                lambda: _measure(audit, entry, evaluation, held_out, roles, "evaluation"),
                with_driver(f"measuring the evaluation data '{evaluation.name}'"),
            )
            if audit.evaluation is not None:
                audit.add(
                    _check(
                        "lineage.evaluation_data",
                        "lineage",
                        "pass",
                        f"evaluation data '{evaluation.name}' ({redact_uri(evaluation.uri)}) is "
                        f"the '{audit.evaluation_context}' input of run {audit.run_id}",
                        observed={"dataset": evaluation.name, "rows": audit.evaluation.rows},
                    )
                )
        _quality(audit, entry, read.df, with_driver(f"checking the quality of {named}"))
        master = _child_master(spark)
        mode = settings.predict
        steps.fairness(
            audit,
            entry,
            SparkData(read.df, audit.training, master, with_driver, mode),
            SparkData(held_out.df, audit.evaluation, master, with_driver, mode)
            if held_out is not None and audit.evaluation is not None
            else None,
        )
    return audit.result(entry)


def _quality(
    audit: Any, entry: ModelPolicy, df: DataFrame, guard: contextlib.AbstractContextManager[None]
) -> None:
    from govern.checks.spark_quality import run_expectations

    def run(specs: Any) -> list[CheckResult]:
        with guard:
            return run_expectations(df, specs)

    steps.quality(audit, entry, run)


def _child_master(spark: SparkSession) -> str:
    """The master of the sandboxed prediction's own Spark: the audit's, when local (a remote
    session is refused by ``spark_predict.predict_cells``, which says why)."""
    try:
        master = str(spark.sparkContext.master)
    except Exception:  # Spark Connect: no SparkContext on the client
        return "local[*]"
    return master if master.startswith("local") else "local[*]"


class SparkData:
    """The Spark engine's ``steps.FairnessData``: a lazy DataFrame and what was measured of it;
    predictions come back as confusion value cells, from the sandboxed child or, with
    ``--spark-predict cluster`` (``mode``), from the cluster's executors."""

    def __init__(
        self,
        df: DataFrame,
        measured: TrainingData,
        master: str,
        guard: Callable[[str], contextlib.AbstractContextManager[None]] | None = None,
        mode: str = "sandbox",
    ):
        self.df = df
        self.name = measured.name
        self.columns: Sequence[str] = measured.columns
        self.rows = measured.rows or 0
        self.master = master
        self.guard = guard or (lambda what: contextlib.nullcontext())
        self.mode = mode

    def label_problem(self, label: str, positive: Any) -> str | None:
        from govern.checks.spark_fairness import label_problem_on_spark

        with self.guard(f"counting the labels of '{self.name}'"):
            return label_problem_on_spark(self.df, label, positive)

    def predict(
        self, model_dir: Path, label: str, sensitive: tuple[str, ...], uri: str, env_manager: str
    ) -> steps.Predicted:
        from govern.checks.spark_fairness import prediction_problem_of_cells
        from govern.pipeline.spark_predict import predictions

        with self.guard(f"handing '{self.name}' to the prediction of {uri}"):
            got = predictions(
                self.df,
                model_dir,
                label,
                sensitive,
                uri,
                env_manager=env_manager,
                master=self.master,
                mode=self.mode,
            )
        return steps.Predicted(
            got.cells,
            prediction_problem_of_cells(got.cells, got.rows),
            got.signature_inputs,
            got.signature_outputs,
            got.where,
        )

    def evaluate(
        self,
        predicted: Any,
        label: str,
        sensitive: tuple[str, ...],
        spec: FairnessSpec,
        positive: Any,
    ) -> tuple[FairnessResult, list[Check]]:
        from govern.checks.spark_fairness import fairness_from_value_cells

        return fairness_from_value_cells(predicted, sensitive, spec, positive_label=positive)


def _guarded(
    audit: Any,
    id_: str,
    step: Callable[[], Any],
    guard: contextlib.AbstractContextManager[None] | None = None,
) -> Any:
    """Run one step; any failure is an error check (a Spark job can fail in many ways), and
    ``guard`` (``on_driver``) names running out of memory as such."""
    try:
        with guard or contextlib.nullcontext():
            return step()
    except GovernError as exc:
        audit.add(_check(id_, "lineage", "error", str(exc)))
    except Exception as exc:
        audit.add(
            _check(id_, "lineage", "error", f"Spark could not measure the data: {one_line(exc)}")
        )
    return None


def _roles_and_measure(audit: Any, entry: ModelPolicy, lineage: Lineage, read: _Read) -> bool:
    training = lineage.training
    label, positive, sensitive = steps.roles(entry, training)
    audit.training = _measure(
        audit, entry, training, read, (label, positive, sensitive), "training"
    )
    audit.training_context = lineage.context
    _representation(audit, entry, read.df)
    if audit.training.rows == 0:
        audit.add(_check("lineage.rows", "lineage", "error", "the training data has no rows"))
    if not label:
        audit.add(
            _check(
                "lineage.label",
                "lineage",
                "error",
                f"no label column: set 'label' in policy entry '{entry.match}' or log the "
                "data with govern.track.log_training_data",
            )
        )
    return True


def _representation(audit: Any, entry: ModelPolicy, df: DataFrame) -> None:
    """Group counts by sensitive feature, from one ``groupBy`` on Spark; descriptive only, as
    in the pandas engine: a failure is noted, never a blocking check."""
    from govern.checks.spark_describe import describe_representation

    t = audit.training
    try:
        audit.representation = describe_representation(
            df,
            t.sensitive_features,
            t.label,
            t.positive_label,
            entry.fairness_spec().min_group_size,
        )
    except Exception as exc:
        audit.metadata["representation_error"] = one_line(exc)


def _proved_hash(read: _Read, recorded: list[str]) -> str:
    """The digest the proofs compare: the manifest's, or, when a recorded hash is the pandas
    engine's streamed SHA-256 of a local folder, that one recomputed on the driver."""
    from govern.registry.spark_integrity import local_stream_sha256

    if not recorded or read.manifest in recorded or read.snapshot.single_file:
        return read.manifest
    stream = local_stream_sha256(read.snapshot.root, read.snapshot.files)
    return stream if stream is not None and stream in recorded else read.manifest


def _measure(
    audit: Any,
    entry: ModelPolicy,
    data: TrainingInput,
    read: _Read,
    roles: tuple[str | None, Any, tuple[str, ...]],
    which: str,
) -> TrainingData:
    """Rows, columns, the proofs and their checks for one dataset, all computed on Spark."""
    from govern.checks.integrity import integrity_checks, proof_of, row_fingerprint_checks
    from govern.checks.spark_describe import describe
    from govern.registry.spark_integrity import row_fingerprint

    label, positive, sensitive = roles
    prefix = "integrity" if which == "training" else "integrity.evaluation"
    pin = audit.pins.get(which)
    logged = data.tags.get(TAG_SHA256)
    recorded = [h for h in (logged, (pin or {}).get("sha256")) if h]
    sha = _proved_hash(read, recorded)
    df = read.df
    shape = describe(df, label)  # one aggregation, plus a groupBy for the label's balance
    measured = TrainingData(
        name=data.name,
        source=redact_uri(data.uri),
        source_type=data.source_type,
        mlflow_digest=data.digest,
        recomputed_digest=None,
        sha256=sha,
        logged_sha256=logged,
        rows=shape.rows,
        columns=shape.columns,
        dtypes=shape.dtypes,
        label=label,
        positive_label=positive,
        sensitive_features=sensitive,
        missing=shape.missing,
        label_balance=shape.label_balance,
        pinned=dict(pin or {}),
        manifest_sha256=read.manifest,
        files=read.files,
        row_fingerprint=row_fingerprint(df),
        logged_row_fingerprint=data.tags.get(TAG_ROW_FINGERPRINT),
        delta_version=read.snapshot.delta_version,
    )
    measured = replace(measured, proof=proof_of(measured, pin, audit.write))
    audit.checks.extend(
        integrity_checks(
            measured,
            # MLflow's Spark digest hashes the query plan, not the rows: nothing to recompute.
            # The full-hash proofs are what the policy's integrity.require weighs.
            digest_applies=True,
            prefix=prefix,
            pin=pin,
            measured_at=audit.started,
            recorded=audit.write,
            require=entry.integrity_require,
            digest_not_applicable=DIGEST_NOT_APPLICABLE.get(
                data.source_type, DIGEST_NOT_RECOMPUTED
            ),
        )
    )
    audit.checks.extend(row_fingerprint_checks(measured, prefix=prefix, pin=pin))
    return measured
