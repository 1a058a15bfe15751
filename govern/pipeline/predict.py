"""The model's own predictions on the audited data, from its files exactly as downloaded.

Loading an MLflow model runs its code (pickles, custom pyfunc), so it never happens in govern's
process: ``govern.pipeline.sandbox`` starts a child (``predict_child``) that is given the local
path of the already hashed model files, the input rows as a parquet file in a private folder,
and nothing else. What comes back is data only, read here with a size bound and validated: one
plain value per row, or the child's one-line reason. Reading the signature needs no model code
(the MLmodel file is YAML), so it is done here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError, OutOfMemory
from govern.pipeline import predict_child, sandbox
from govern.redact import scrub
from govern.registry.client import one_line

if TYPE_CHECKING:
    import pandas as pd

_MESSAGES = {
    "load": "cannot load model {uri}: {message}",
    "predict": "model {uri} could not predict: {message}",
    "shape": "{message}",
    "env": "cannot build the model's environment with {manager}: {message}",
    "memory": "model {uri} ran out of memory predicting on {rows} rows ({message}): {bound}",
}


@dataclass(frozen=True)
class Predictions:
    labels: Any
    """One predicted class label per row (a 1-D numpy array)."""
    signature_inputs: str | None = None
    signature_outputs: str | None = None


def _signature(model_dir: Path, uri: str) -> Any:
    """The model's signature from its MLmodel file (YAML: reading it runs no model code)."""
    from mlflow.models import Model

    try:
        return Model.load(str(model_dir / "MLmodel")).signature
    except Exception as exc:
        raise DataError(f"cannot load model {uri}: {one_line(exc)}") from exc


def predict(
    model_dir: Path,
    df: pd.DataFrame,
    label: str,
    uri: str,
    *,
    env_manager: str = "local",
) -> Predictions:
    """Predict with the model at ``model_dir`` on the columns of its input signature (else
    every column but the label), in a child process (``env_manager``: govern's interpreter or
    the model's own environment). ``uri`` names the model in messages."""
    features, inputs, outputs = model_inputs(model_dir, list(df.columns), label, uri)
    labels = _in_child(model_dir, df[features], uri, env_manager)
    return Predictions(labels, inputs, outputs)


def model_inputs(
    model_dir: Path, columns: list[Any], label: str, uri: str
) -> tuple[list[Any], str | None, str | None]:
    """The columns the model is given (its input signature's, else every column but the label)
    and its signature's inputs and outputs as text; shared by the pandas and Spark engines."""
    signature = _signature(model_dir, uri)
    features = [c for c in columns if c != label]
    inputs = outputs = None
    if signature is not None and signature.inputs is not None:
        names = [n for n in (signature.inputs.input_names() or []) if isinstance(n, str)]
        inputs = str(signature.inputs)
        if signature.outputs is not None:
            outputs = str(signature.outputs)
        if names:
            missing = [n for n in names if n not in columns]
            if missing:
                raise DataError(
                    "the model's input signature needs columns absent from the training "
                    f"data: {', '.join(missing)}"
                )
            features = names
    return features, inputs, outputs


def _memory_remedy(memory: int | None) -> str:
    variable = sandbox.MEMORY_VARIABLE
    if memory is None:
        return "give the audit more memory, or predict on less data"
    return (
        f"the prediction process may hold {sandbox.format_bytes(memory)} ({variable}); "
        f"raise {variable} if this machine has more"
    )


def _in_child(model_dir: Path, frame: pd.DataFrame, uri: str, manager: str) -> Any:
    seconds = sandbox.bound()
    memory = sandbox.memory_bound()
    with sandbox.private_folder() as folder:
        frame.to_parquet(folder / "input.parquet")
        request = {
            "model_dir": str(model_dir),
            "input": "input.parquet",
            "env_manager": manager,
            "env_root": str(sandbox.env_root()) if manager != "local" else None,
            "memory": memory,
        }
        (folder / predict_child.REQUEST).write_text(json.dumps(request), encoding="utf-8")
        try:
            child = sandbox.run_child(folder, manager, seconds)
        except sandbox.ChildFailed as exc:
            raise DataError(f"model could not predict: {exc}") from None
        result = _read_json(folder / predict_child.RESULT, 64 * 1024)
        killed = sandbox.killed_error(child, f"model {uri} could not predict on {len(frame)} rows")
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
            text = _MESSAGES[stage].format(
                uri=uri,
                message=message[:500],
                manager=manager,
                rows=len(frame),
                bound=_memory_remedy(memory),
            )
            error = OutOfMemory if stage == "memory" else DataError
            raise error(scrub(" ".join(text.split())))
        limit = 1024 * 1024 + 1024 * len(frame)
        return _labels(_read_json(folder / predict_child.PREDICTIONS, limit), len(frame))


def _read_json(path: Path, limit: int) -> Any:
    """The file's JSON, or None if it is missing, too large or not JSON."""
    try:
        if path.stat().st_size > limit:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _labels(payload: Any, rows: int) -> Any:
    """The child's predictions as a 1-D numpy array with the dtype the model returned (numbers,
    booleans, strings or plain objects), or a DataError: nothing else is accepted."""
    import numpy as np

    garbage = DataError("model could not predict: the prediction process answered garbage")
    if not isinstance(payload, dict):
        raise garbage
    values, dtype = payload.get("values"), payload.get("dtype")
    if not isinstance(values, list) or not isinstance(dtype, str):
        raise garbage
    if not all(v is None or isinstance(v, bool | int | float | str) for v in values):
        raise garbage
    if len(values) != rows:
        raise DataError(f"the model returned {len(values)} predictions for {rows} rows")
    try:
        kind = np.dtype(dtype).kind if len(dtype) < 32 else "O"
    except TypeError:
        kind = "O"
    if kind in "biuf":
        try:
            return np.asarray(values, dtype=np.dtype(dtype))
        except (TypeError, ValueError, OverflowError):
            raise garbage from None
    if kind == "U" and all(isinstance(v, str) for v in values):
        return np.asarray(values, dtype=str)
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr
