"""The model's predictions on Spark (``mlflow.pyfunc.spark_udf``), and only their confusion cells
back on the driver.

Model code is untrusted (pickles, custom pyfunc run when MLflow loads a model), and govern's
process holds registry credentials and key paths. So, as for the pandas engine, the Spark job
that runs the model is not started from govern's process:

1. govern's Spark session writes the columns the model needs (its input signature's, the label
   and the sensitive features) as parquet into a private folder (``sandbox.private_folder``);
   this is a distributed write, nothing is collected.
2. ``sandbox.run_child`` starts this module as a child with the allow-listed environment (plus
   ``JAVA_HOME``), a fresh HOME and TMPDIR, in its own user and PID namespace where Linux allows.
   The child starts its own local Spark session, so the JVM and every Python worker that loads
   the model inherit that scrubbed environment, never govern's.
3. The child scores the rows with ``spark_udf`` (``env_manager`` local, virtualenv or uv, as
   for the pandas engine) and counts ``(sensitive values, label, prediction) -> rows`` with one
   ``groupBy`` (``spark_fairness.value_cells``), writing those cells, a few hundred rows, as
   ``cells.parquet``. That is all that comes back.
4. govern reads the cells with a size bound and trusts only their predictions: the label and
   sensitive values of the cells must add up, cell for cell, to govern's own count of the same
   data, or the answer is refused.

What holds on a cluster (a ``spark://``, YARN or Kubernetes master, Spark Connect): not this.
The child cannot read the cluster's data, and handing the data over is out of the question, so
by default (``--spark-predict sandbox``) fairness there is an error check that says why. With
``--spark-predict cluster``, an explicit opt-in recorded in the results,
``predict_cells_on_cluster`` runs ``spark_udf`` in the audit's own session: the model's code
runs on the executors, a different trust domain that govern cannot scrub: whatever the
executors can reach (an instance profile, cluster-scoped secrets, the network) the model can
reach, so the cluster should be one with read access to the training data and nothing else.
govern's own credentials stay in the driver process, which never loads the model
(``spark_udf`` reads only the MLmodel file there), and nothing of them travels in the UDF:
MLflow pickles the driver's OpenAI variables, ``MLFLOW_HOME``, ``_MLFLOW_TESTING`` and the
tracking URI into the UDF's closure, which ``without_secrets`` replaces and then checks by
pickling the UDF as Spark will. The same cell checks as the sandbox's apply to the answer.
Over Spark Connect the UDF is ``shipped_udf`` instead: the model folder govern downloaded and
hashed is added to the session as an archive and loaded by the executors from there, because
``spark_udf`` on Connect makes each executor fetch the model by URI (registry credentials on the
cluster). Only ``env_manager`` local works there (MLflow builds environments on Connect only on
Databricks).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError, OutOfMemory

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame

    from govern.model.results import CheckResult, FairnessResult
    from govern.model.specs import FairnessSpec

MODULE = "govern.pipeline.spark_predict"
REQUEST = "request.json"
RESULT = "result.json"
CELLS = "cells.parquet"
INPUT = "input"
PREDICTION = "__govern_prediction__"
MAX_CELLS_BYTES = 256 * 1024 * 1024
"""The largest cells file read back (a million cells is a few tens of MB)."""
PASSED = ("JAVA_HOME", "GOVERN_PREDICT_MEMORY")
"""govern's variables the Spark child needs on top of the sandbox's allow-list: Java, and the
prediction's memory bound (``sandbox.MEMORY_VARIABLE``), which is its JVM's heap."""
SANDBOXED = "sandboxed local Spark child"
"""``SparkPredictions.where`` of the default path."""
NO_TRACKING_URI = "file:///nonexistent/govern-gives-the-model-no-tracking-server"
"""The tracking URI the UDF sets on the executors instead of govern's: the model needs none
(the model files travel with the UDF) and must not learn where govern's registry is."""
_CAPTURED: dict[str, Any] = {
    "mlflow_home": None,
    "openai_env_vars": {},
    "mlflow_testing": None,
    "tracking_uri": NO_TRACKING_URI,
}
"""What ``mlflow.pyfunc.spark_udf`` (MLflow 3) reads from the driver's environment into its
UDF's closure, and what govern puts there instead."""
ON_CLUSTER_REFUSED = (
    "the model would run on the cluster's executors ({where}), outside govern's sandbox, with "
    "whatever they can reach; --spark-predict cluster allows that (recorded in the results), "
    "the default --spark-predict sandbox predicts only on a local master"
)

_MESSAGES = {
    "load": "cannot load model {uri}: {message}",
    "predict": "model {uri} could not predict: {message}",
    "shape": "{message}",
    "env": "cannot build the model's environment with {manager}: {message}",
    "spark": "cannot start Spark for the prediction: {message}",
    "memory": "model {uri} ran out of memory while predicting: {message}",
}


@dataclass(frozen=True)
class SparkPredictions:
    cells: pd.DataFrame
    """``spark_fairness.value_cells``: rows per (sensitive values, label, predicted label)."""
    rows: int
    """Rows of the data, counted by govern (not by the child)."""
    signature_inputs: str | None = None
    signature_outputs: str | None = None
    where: str = SANDBOXED
    """Where the model ran: ``SANDBOXED``, or the cluster (``cluster_site``)."""


def predictions(
    sdf: DataFrame,
    model_dir: Path,
    label: str,
    sensitive: Sequence[str],
    uri: str,
    *,
    env_manager: str = "local",
    master: str = "local[2]",
    mode: str = "sandbox",
) -> SparkPredictions:
    """The model's cells where ``--spark-predict`` (``mode``) allows it to run, failing closed:
    a local session predicts in the sandboxed child and only there; a cluster session predicts
    on its executors only when ``mode`` is ``cluster``."""
    local = is_local(sdf)
    if mode == "cluster":
        if local:
            raise DataError(
                "--spark-predict cluster refused: the session is local, so the model would run "
                "in govern's own process tree, with its credentials; the sandbox is for that case"
            )
        return predict_cells_on_cluster(
            sdf, model_dir, label, sensitive, uri, env_manager=env_manager
        )
    if mode != "sandbox":
        raise DataError(f"--spark-predict '{mode}': expected sandbox or cluster")
    if not local:
        raise DataError(ON_CLUSTER_REFUSED.format(where=cluster_site(sdf.sparkSession)))
    return predict_cells(
        sdf, model_dir, label, sensitive, uri, env_manager=env_manager, master=master
    )


def cluster_site(spark: Any) -> str:
    """Where ``spark_udf`` runs the model in ``spark``'s session, for the evidence (the master
    without userinfo: a URL may carry credentials)."""
    from govern.redact import redact_uri
    from govern.registry.spark_session import is_connect

    if is_connect(spark):
        return "executors of the Spark Connect cluster"
    try:
        master = str(spark.sparkContext.master)
    except Exception:
        return "executors of the cluster"
    return f"executors of {redact_uri(master)}"


def _own_counts(
    sdf: DataFrame, model_dir: Path, label: str, sensitive: Sequence[str], uri: str
) -> tuple[list[str], str | None, str | None, pd.DataFrame]:
    """The model's input columns and signature, and govern's own (sensitive values, label)
    counts, which any answer must add up to (``_check_against``)."""
    from govern.checks.spark_describe import column, small_frame
    from govern.pipeline.predict import model_inputs

    features, inputs, outputs = model_inputs(model_dir, list(sdf.columns), label, uri)
    keys = [column(s).alias(f"_s{i}") for i, s in enumerate(sensitive)]
    own = small_frame(sdf.groupBy(*keys, column(label).alias("_y")).count())
    return features, inputs, outputs, own


def predict_cells_on_cluster(
    sdf: DataFrame,
    model_dir: Path,
    label: str,
    sensitive: Sequence[str],
    uri: str,
    *,
    env_manager: str = "local",
) -> SparkPredictions:
    """Score ``sdf`` on the executors of its own (cluster) session and return the value cells,
    checked as the sandbox's are: bounded, well formed, adding up to govern's own counts. Only
    with ``--spark-predict cluster``: see the module docstring."""
    from govern.redact import scrub
    from govern.registry.client import one_line

    features, inputs, outputs, own = _own_counts(sdf, model_dir, label, sensitive, uri)
    try:
        cells = predict_cells_in_session(
            sdf, model_dir, features, label, sensitive, env_manager=env_manager
        )
    except DataError:
        raise
    except Exception as exc:
        why = (_python_error(exc) or one_line(exc))[:500]
        raise DataError(scrub(f"model {uri} could not predict on the cluster: {why}")) from None
    cells = _valid_cells(cells, len(sensitive))
    _check_against(cells, own, len(sensitive))
    where = cluster_site(sdf.sparkSession)
    return SparkPredictions(cells, int(own["count"].sum()), inputs, outputs, where)


def predict_cells(
    sdf: DataFrame,
    model_dir: Path,
    label: str,
    sensitive: Sequence[str],
    uri: str,
    *,
    env_manager: str = "local",
    master: str = "local[2]",
) -> SparkPredictions:
    """Score ``sdf`` with the model at ``model_dir`` in a sandboxed local Spark child and return
    the confusion value cells; ``uri`` names the model in messages. See the module docstring."""
    from govern.checks.spark_describe import column
    from govern.pipeline import sandbox
    from govern.redact import scrub

    if not is_local(sdf):
        raise DataError(
            "the sandboxed Spark prediction needs a local Spark master (the data is handed to a "
            "child process through a local folder): "
            + ON_CLUSTER_REFUSED.format(where=cluster_site(sdf.sparkSession))
        )
    features, inputs, outputs, own = _own_counts(sdf, model_dir, label, sensitive, uri)
    needed = list(dict.fromkeys([*features, label, *sensitive]))
    seconds = sandbox.bound()
    with sandbox.private_folder() as folder:
        sdf.select(*[column(c) for c in needed]).write.parquet(str(folder / INPUT))
        request = {
            "model_dir": str(model_dir),
            "input": INPUT,
            "features": features,
            "label": label,
            "sensitive": list(sensitive),
            "env_manager": env_manager,
            "env_root": str(sandbox.env_root()) if env_manager != "local" else None,
            "master": master,
        }
        (folder / REQUEST).write_text(json.dumps(request), encoding="utf-8")
        try:
            child = sandbox.run_child(folder, env_manager, seconds, module=MODULE, passed=PASSED)
        except sandbox.ChildFailed as exc:
            raise DataError(f"model could not predict: {exc}") from None
        result = _read_json(folder / RESULT)
        killed = sandbox.killed_error(child, f"model {uri} could not predict")
        if result is None and killed is not None:
            raise killed
        if result is None:
            why = f"the prediction process exited with code {child.returncode} and no answer"
            tail = child.stderr_tail()
            raise DataError(f"model could not predict: {why}" + (f" ({tail})" if tail else ""))
        if not isinstance(result, dict) or not isinstance(result.get("ok"), bool):
            raise DataError("model could not predict: the prediction process answered garbage")
        if not result["ok"]:
            stage, message = result.get("stage"), result.get("message")
            if stage not in _MESSAGES or not isinstance(message, str):
                raise DataError("model could not predict: the prediction process answered garbage")
            text = _MESSAGES[stage].format(uri=uri, message=message[:500], manager=env_manager)
            error = OutOfMemory if stage == "memory" else DataError
            raise error(scrub(" ".join(text.split())))
        cells = _read_cells(folder / CELLS, len(sensitive))
    _check_against(cells, own, len(sensitive))
    return SparkPredictions(cells, int(own["count"].sum()), inputs, outputs)


def fairness_of_model(
    sdf: DataFrame,
    model_dir: Path,
    label: str,
    sensitive: Sequence[str],
    spec: FairnessSpec,
    uri: str,
    *,
    positive_label: Any,
    env_manager: str = "local",
    master: str = "local[2]",
) -> tuple[FairnessResult, list[CheckResult], SparkPredictions]:
    """The Spark engine's counterpart of the pandas engine's predict-then-``evaluate_fairness``:
    the sandboxed prediction, the prediction sanity check, then the shared fairness path. Raises
    ``DataError`` with the pandas engine's messages where its steps would fail."""
    from govern.checks.spark_fairness import (
        fairness_from_value_cells,
        prediction_problem_of_cells,
    )

    predictions = predict_cells(
        sdf, model_dir, label, sensitive, uri, env_manager=env_manager, master=master
    )
    problem = prediction_problem_of_cells(predictions.cells, predictions.rows)
    if problem:
        raise DataError(problem)
    result, checks = fairness_from_value_cells(
        predictions.cells, tuple(sensitive), spec, positive_label=positive_label
    )
    return result, checks, predictions


def is_local(sdf: DataFrame) -> bool:
    """Whether ``sdf`` lives in a classic session with a ``local`` master (a Spark Connect
    session has no SparkContext, and its data is not on this machine)."""
    try:
        master = sdf.sparkSession.sparkContext.master
    except Exception:  # Spark Connect: no SparkContext on the client
        return False
    return str(master).startswith("local")


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > 64 * 1024:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_cells(path: Path, groups: int) -> pd.DataFrame:
    """The child's cells file: parquet (data only, no code), bounded, with exactly the expected
    columns and non-negative whole counts."""
    import pandas as pd

    garbage = DataError("model could not predict: the prediction process answered garbage")
    try:
        if path.stat().st_size > MAX_CELLS_BYTES:
            raise garbage
        frame = pd.read_parquet(path)
    except DataError:
        raise
    except Exception:
        raise garbage from None
    return _valid_cells(frame, groups)


def _valid_cells(frame: pd.DataFrame, groups: int) -> pd.DataFrame:
    """Cells with exactly the expected columns and non-negative whole counts, or an error."""
    garbage = DataError("model could not predict: the prediction answered garbage")
    expected = [*(f"_s{i}" for i in range(groups)), "_y", "_yhat", "_n"]
    if list(frame.columns) != expected or frame["_n"].dtype.kind not in "iu":
        raise garbage
    if len(frame) and int(frame["_n"].min()) < 0:
        raise garbage
    return frame


def _key(values: tuple[Any, ...]) -> tuple[str, ...]:
    import pandas as pd

    return tuple("\0missing" if v is None or bool(pd.isna(v)) else repr(v) for v in values)


def _check_against(cells: pd.DataFrame, own: pd.DataFrame, groups: int) -> None:
    """The child controls the predictions and nothing else: its cells, summed over the
    prediction, must be govern's own (sensitive values, label) counts of the same data."""
    keys = [*(f"_s{i}" for i in range(groups)), "_y"]

    def totals(frame: pd.DataFrame, count: str) -> dict[tuple[str, ...], int]:
        out: dict[tuple[str, ...], int] = {}
        for row in frame[[*keys, count]].itertuples(index=False, name=None):
            key = _key(row[:-1])
            out[key] = out.get(key, 0) + int(row[-1])
        return out

    if totals(cells, "_n") != totals(own, "count"):
        raise DataError(
            "model could not predict: the prediction process answered cells that do not "
            "match the data (rows lost, added or moved between groups)"
        )


def predict_cells_in_session(
    sdf: DataFrame,
    model_dir: Path | str,
    features: Sequence[str],
    label: str,
    sensitive: Sequence[str],
    *,
    env_manager: str = "local",
) -> pd.DataFrame:
    """Score ``sdf`` in its own session and count the value cells there.

    The child calls this on its local session. On a remote cluster it is the only way (the data
    cannot be handed to a local child) and the model then runs on the executors with whatever
    they can reach: see the module docstring. Over Spark Connect the model's files are shipped
    to the session (``shipped_udf``) instead of going through ``spark_udf``.
    """
    from govern.registry.spark_session import is_connect

    label_type = sdf.schema[label].dataType
    if is_connect(sdf.sparkSession):
        udf = shipped_udf(sdf.sparkSession, model_dir, env_manager, label_type)
    else:
        udf = without_secrets(
            scoring_udf(sdf.sparkSession, model_dir, env_manager, label_type.simpleString())
        )
    return cells_with(udf, sdf, features, label, sensitive)


def without_secrets(udf: Any) -> Any:
    """``udf`` with nothing of govern's environment in what Spark will ship to the executors.

    ``spark_udf`` reads ``_CAPTURED`` from the driver's environment into its UDF's closure; those
    cells are replaced (in this UDF's own function object: no process-wide state is touched, so
    an audit in ``govern serve``'s worker thread cannot disturb another thread). Then the UDF is
    pickled as Spark pickles it and refused if any secret value of govern's process
    (``redact.secret_values``) is still in it: a future MLflow that captures something else
    fails closed instead of leaking.
    """
    func = getattr(udf, "func", None)
    code = getattr(func, "__code__", None)
    if func is None or code is None:
        raise DataError(
            "cannot check the model's Spark UDF for govern's secrets: mlflow.pyfunc.spark_udf "
            "returned an unexpected object; refusing to run the model on the cluster"
        )
    for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=True):
        if name in _CAPTURED:
            cell.cell_contents = _CAPTURED[name]
    from pyspark.serializers import CloudPickleSerializer

    try:
        blob = CloudPickleSerializer().dumps((func, getattr(udf, "returnType", None)))
    except Exception as exc:
        raise DataError(f"cannot pickle the model's Spark UDF: {type(exc).__name__}") from None
    from govern.redact import secret_values

    leaked = sorted({where for value, where in secret_values().items() if value.encode() in blob})
    if leaked:
        raise DataError(
            "refusing to run the model on the cluster: the Spark UDF MLflow built would carry "
            f"a secret of govern's process to the executors ({', '.join(leaked)})"
        )
    return udf


def _result_type(model_dir: Path | str, label_type: str) -> str | None:
    """The UDF's result type when MLflow's inference will not do, else ``None``: see
    ``scoring_udf``."""
    from mlflow.models import Model

    schema = Model.load(str(Path(model_dir) / "MLmodel")).get_output_schema()
    if schema is None or schema.is_tensor_spec():
        # MLflow would give a tensor's rows as arrays; a class label per row is what is wanted.
        return label_type
    from mlflow.pyfunc import _infer_spark_udf_return_type

    try:
        _infer_spark_udf_return_type(schema)
    except Exception:
        return label_type
    return None


def scoring_udf(spark: Any, model_dir: Path | str, env_manager: str, label_type: str) -> Any:
    """MLflow's pandas UDF for the model (its environment built first unless ``local``).

    Its result type is the one MLflow infers from the model's output signature; where it
    cannot (no output signature, where MLflow would assume ``double``, or a tensor of objects,
    which is how a scikit-learn classifier's text labels are recorded, or any tensor: MLflow
    would return each row as an array) it is the label column's type, since a prediction must
    be a class of the label.
    """
    import mlflow.pyfunc

    result_type = _result_type(model_dir, label_type)
    return mlflow.pyfunc.spark_udf(
        spark, str(model_dir), env_manager=env_manager, result_type=result_type
    )


CONNECT_ENV_MANAGER = (
    "--model-env-manager {manager} cannot run the model over Spark Connect: the executors "
    "would have to build the model's environment, which MLflow supports on Databricks only; "
    "use --model-env-manager local with executors that have the model's dependencies"
)

_KINDS = {
    "IntegerType": "int",
    "LongType": "long",
    "FloatType": "float",
    "DoubleType": "double",
    "BooleanType": "boolean",
    "StringType": "string",
}
"""The result types a per-row class label can have, as ``spark_udf`` converts them."""


def shipped_udf(spark: Any, model_dir: Path | str, env_manager: str, label_type: Any) -> Any:
    """A pandas UDF that scores with the model files govern downloaded, over Spark Connect.

    ``spark_udf`` on a Connect session makes the executors fetch the model by its URI (a
    client-local path they cannot see, or ``models:/``, which needs registry credentials on the
    cluster) and captures the client's tracking URI and OpenAI variables in the UDF. Instead the
    model folder, exactly as govern downloaded and hashed it, goes to the session as an archive
    (``addArtifacts``) and each Python worker loads it from the session's artifact folder. The
    UDF's closure holds the archive's name, the input names and the result type, nothing else:
    the executors need neither registry access nor anything of govern's environment.

    Results are converted as ``spark_udf`` converts them (first column of the prediction, kept
    only if its dtype fits the type, text through ``str``), so cells equal the classic path's.
    """
    from mlflow.models import Model
    from pyspark.sql.functions import pandas_udf

    if env_manager != "local":
        raise DataError(CONNECT_ENV_MANAGER.format(manager=env_manager))
    model = Model.load(str(Path(model_dir) / "MLmodel"))
    result_type: Any = label_type  # a Spark DataType: the label column's
    if _result_type(model_dir, label_type.simpleString()) is None:
        from mlflow.pyfunc import _infer_spark_udf_return_type

        result_type = _infer_spark_udf_return_type(model.get_output_schema())
    kind = _KINDS.get(type(result_type).__name__)
    if kind is None:
        raise DataError(
            f"the model returns {result_type.simpleString()} per row; fairness needs one label "
            "per row (int, bigint, float, double, boolean or string)"
        )
    inputs = model.get_input_schema()
    names = list(inputs.input_names()) if inputs is not None else None
    archive = ship_model(spark, Path(model_dir))
    return pandas_udf(_predictor(archive, names, kind), returnType=result_type)


def ship_model(spark: Any, model_dir: Path) -> str:
    """Add ``model_dir`` to the session as a zip archive named by its SHA-256; its name.

    The zip is deterministic (sorted entries, fixed timestamps), so the same model files give
    the same name, and a name already added to this session is not added again.
    """
    import hashlib
    import shutil
    import tempfile
    import zipfile

    folder = Path(tempfile.mkdtemp(prefix="govern-ship-"))
    try:
        staging = folder / "model.zip"
        with zipfile.ZipFile(staging, "w", zipfile.ZIP_DEFLATED) as out:
            for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(
                    path.relative_to(model_dir).as_posix(), (1980, 1, 1, 0, 0, 0)
                )
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                out.writestr(info, path.read_bytes())
        digest = hashlib.sha256(staging.read_bytes()).hexdigest()
        name = f"govern-model-{digest[:32]}.zip"
        key = (id(spark), name)
        if key not in _SHIPPED:
            archive = folder / name
            staging.rename(archive)
            try:
                spark.addArtifacts(str(archive), archive=True)
            except Exception as exc:
                raise DataError(
                    f"cannot ship the model to the Spark Connect session: {_first_line(exc)}"
                ) from exc
            _SHIPPED.add(key)
        return name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_SHIPPED: set[tuple[int, str]] = set()
"""(session, archive) pairs already added: a session refuses a second artifact of one name."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:400]


def _predictor(archive: str, names: list[str] | None, kind: str) -> Any:
    """The function the executors run. A closure, so Spark ships it by value: the executors
    need mlflow and the model's dependencies (to load it at all), not govern."""
    from collections.abc import Iterator

    import pandas as pd

    def predict(batches: Any) -> Any:
        import os as _os

        import mlflow.pyfunc
        import numpy as np
        import pandas as _pd
        from pyspark import SparkFiles

        loaded = mlflow.pyfunc.load_model(_os.path.join(SparkFiles.getRootDirectory(), archive))
        for batch in batches:
            args = list(batch) if isinstance(batch, tuple) else [batch]
            if names is None:
                columns = [str(i) for i in range(len(args))]
            else:
                columns = list(names)
                args = args[: len(columns)]
            frame = _pd.DataFrame(dict(zip(columns, args, strict=False)), columns=columns)
            result = loaded.predict(frame)
            if isinstance(result, dict):
                result = {k: list(v) for k, v in result.items()}
            if not isinstance(result, _pd.DataFrame):
                result = _pd.DataFrame([result]) if np.isscalar(result) else _pd.DataFrame(result)
            if kind == "int":
                small = [np.byte, np.ubyte, np.short, np.ushort, np.int32]
                result = result.select_dtypes(small).astype(np.int32)
            elif kind == "long":
                small = [np.byte, np.ubyte, np.short, np.ushort, int]
                result = result.select_dtypes(small).astype(np.int64)
            elif kind == "float":
                result = result.select_dtypes(include=(np.number,)).astype(np.float32)
            elif kind == "double":
                result = result.select_dtypes(include=(np.number,)).astype(np.float64)
            elif kind == "boolean":
                result = result.select_dtypes([bool, np.bool_]).astype(bool)
            if len(result.columns) == 0:
                raise ValueError(
                    f"the model did not produce any values compatible with the type {kind}"
                )
            if kind == "string":
                result = result.map(str)
            yield result[result.columns[0]]

    predict.__annotations__ = {
        "batches": Iterator[tuple[pd.Series, ...]],
        "return": Iterator[pd.Series],
    }
    return predict


def cells_with(
    udf: Any, sdf: DataFrame, features: Sequence[str], label: str, sensitive: Sequence[str]
) -> pd.DataFrame:
    """Score every row with ``udf`` and count the value cells: one Spark job."""
    from pyspark.sql.types import ArrayType, MapType, StructType

    from govern.checks.spark_describe import column
    from govern.checks.spark_fairness import value_cells

    scored = sdf.withColumn(PREDICTION, udf(*[column(f) for f in features]))
    kind = scored.schema[PREDICTION].dataType
    if isinstance(kind, ArrayType | MapType | StructType):
        raise DataError(
            f"the model returns {kind.simpleString()} per row; fairness needs one label per row"
        )
    return value_cells(scored, label, PREDICTION, sensitive)


# --- the child ---------------------------------------------------------------------------------


def _child(request: dict[str, Any]) -> None:
    """In the sandbox: start a local Spark session, score, count, write the cells."""
    from govern.errors import UsageError
    from govern.pipeline.predict_child import Refused, _one_line
    from govern.pipeline.sandbox import format_bytes, memory_bound

    try:
        heap = memory_bound()
    except UsageError as exc:
        raise Refused("spark", str(exc)) from exc
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    if request.get("env_root"):
        os.environ["MLFLOW_ENV_ROOT"] = request["env_root"]
    scratch = Path("tmp").resolve()
    try:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder
        if heap is not None:  # local mode: the driver's heap is where the tasks run
            builder = builder.config("spark.driver.memory", format_bytes(heap))
        spark = (
            builder.master(str(request["master"]))
            .appName("govern-predict")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.local.dir", str(scratch))
            .config("spark.driver.extraJavaOptions", f"-Djava.io.tmpdir={scratch}")
            .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
            .getOrCreate()
        )
    except Exception as exc:
        raise Refused("spark", _one_line(exc)) from exc
    try:
        sdf = spark.read.parquet(request["input"])
        manager = request["env_manager"]
        try:
            label_type = sdf.schema[request["label"]].dataType.simpleString()
            udf = scoring_udf(spark, request["model_dir"], manager, label_type)
        except Exception as exc:
            raise Refused("load" if manager == "local" else "env", _one_line(exc)) from exc
        try:
            frame = cells_with(
                udf, sdf, request["features"], request["label"], request["sensitive"]
            )
        except DataError as exc:
            raise Refused("shape", str(exc)) from exc
        except Exception as exc:
            memory = _memory_problem(exc, spark, heap)
            if memory is not None:
                raise Refused("memory", memory) from exc
            raise Refused("predict", _python_error(exc) or _one_line(exc)) from exc
        frame.to_parquet(CELLS + ".tmp", index=False)
        Path(CELLS + ".tmp").replace(CELLS)
    except Refused:
        raise
    except Exception as exc:  # the JVM gone between steps: still say so, never a crash
        memory = _memory_problem(exc, spark, heap)
        if memory is not None:
            raise Refused("memory", memory) from exc
        raise Refused("predict", _one_line(exc)) from exc
    finally:
        with contextlib.suppress(Exception):  # a JVM that died has nothing left to stop
            spark.stop()


def _memory_problem(exc: BaseException, spark: Any, heap: int | None) -> str | None:
    """What ran out in the child's Spark, and the setting that gives it more; None for any
    other failure. The JVM's heap is ``GOVERN_PREDICT_MEMORY``; the model's Python workers
    are separate processes, bounded only by the machine."""
    from govern.pipeline.sandbox import MEMORY_VARIABLE, format_bytes
    from govern.registry.spark_session import (
        SPARK_OOM_EXIT,
        gateway_lost,
        jvm_exit_code,
        out_of_memory,
    )

    cause = out_of_memory(exc)
    if cause is None and gateway_lost(exc):  # give a dying JVM a moment to report its code
        with contextlib.suppress(Exception):
            spark.sparkContext._gateway.proc.wait(timeout=10)
    if cause is None and jvm_exit_code(spark) == SPARK_OOM_EXIT:
        cause = f"its JVM exited with code {SPARK_OOM_EXIT}, an OutOfMemoryError"
    if cause is not None:
        now = format_bytes(heap) if heap is not None else "1g, Spark's default"
        return (
            f"the prediction's Spark JVM ran out of heap ({cause}); raise its heap with "
            f"{MEMORY_VARIABLE}=8g (now {now})"
        )
    worker = _python_error(exc)
    if worker is not None and worker.split(":", 1)[0].endswith("MemoryError"):
        return (
            f"the model's Python worker ran out of memory ({worker[:200]}); give the audit "
            "more memory or predict on less data"
        )
    return None


def _python_error(exc: BaseException) -> str | None:
    """The model's own error inside a Spark Python worker, not the JVM's wrapper around it."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.split(":", 1)[0].endswith(("Error", "Exception"))]
    return errors[-1][:500] if errors else None


def main(argv: list[str]) -> int:
    from govern.pipeline.predict_child import RESULT as _RESULT
    from govern.pipeline.predict_child import Refused, _watch_parent, _write_json

    assert _RESULT == RESULT
    _watch_parent()
    request = json.loads(Path(REQUEST).read_text(encoding="utf-8"))
    try:
        _child(request)
    except Refused as exc:
        _write_json(RESULT, {"ok": False, "stage": exc.stage, "message": str(exc)})
        return 0
    _write_json(RESULT, {"ok": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
