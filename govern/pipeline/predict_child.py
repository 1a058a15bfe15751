"""The prediction child: loads the model and predicts, in a process that holds no secret.

Loading an MLflow model runs its code (pickles, custom pyfunc). This module is that process's
entry point (``python -m govern.pipeline.predict_child``), started by ``govern.pipeline.sandbox``
with an allow-listed environment, in a private folder that is its working directory. Everything
it is told is in ``request.json`` there: the local path of the already downloaded and hashed
model, the input file, and the model environment manager. It answers with two files in the same
folder, ``result.json`` (ok, or the stage that failed and why) and ``predictions.json`` (one value
per row); the parent validates both and trusts neither.

Only the standard library is imported at module level: with ``--model-env-manager uv`` this
module runs inside the model's own environment, which has the model's libraries, not govern's.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

REQUEST = "request.json"
RESULT = "result.json"
PREDICTIONS = "predictions.json"
IN_ENV = "--in-model-env"
MODULE = "govern.pipeline.predict_child"


class Refused(Exception):
    """A failure to report to the parent as ``stage: message`` rather than as a crash."""

    def __init__(self, stage: str, message: str) -> None:
        super().__init__(message)
        self.stage = stage


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text[:500]


def _write_json(name: str, payload: Any) -> None:
    tmp = Path(name + ".tmp")
    tmp.write_text(json.dumps(payload), encoding="utf-8")
    tmp.replace(name)


def _watch_parent() -> None:
    """Exit when the process that started this one is gone: a killed audit must not leave a
    model predicting on. (Inside a PID namespace the parent is outside it and reads as 0, so the
    namespace's own teardown does this job there.)"""
    parent = os.getppid()
    if parent <= 1:
        return

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(70)

    threading.Thread(target=watch, daemon=True, name="govern-parent-watch").start()


def flatten(pred: Any) -> Any:
    """``predict`` output as one label per row (a 1-D numpy array), or Refused saying what
    shape came back."""
    import numpy as np
    import pandas as pd

    if isinstance(pred, pd.DataFrame):
        if pred.shape[1] != 1:
            raise Refused(
                "shape",
                f"the model returned {pred.shape[1]} columns; fairness needs one label per row",
            )
        return pred.iloc[:, 0].to_numpy()
    if isinstance(pred, pd.Series):
        return pred.to_numpy()
    arr = np.asarray(pred)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise Refused(
            "shape",
            f"the model returned an array of shape {arr.shape}; fairness needs one label per row",
        )
    return arr


def _plain(value: Any) -> Any:
    """A JSON scalar for one predicted value (numpy scalars become Python ones)."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise Refused("shape", f"the model returned a {type(value).__name__} as a prediction")


def predict(request: dict[str, Any]) -> None:
    """Load the model, predict on the input file, write the predictions."""
    import mlflow.pyfunc
    import pandas as pd

    try:
        model = mlflow.pyfunc.load_model(request["model_dir"])
    except MemoryError:
        raise
    except Exception as exc:
        raise Refused("load", _one_line(exc)) from exc
    frame = pd.read_parquet(request["input"])
    try:
        pred = model.predict(frame)
    except MemoryError:
        raise
    except Exception as exc:
        raise Refused("predict", _one_line(exc)) from exc
    arr = flatten(pred)
    values = [_plain(v) for v in arr.tolist()]
    _write_json(PREDICTIONS, {"dtype": str(arr.dtype), "values": values})


def build_environment(request: dict[str, Any]) -> Path:
    """The python of the model's own environment, built by MLflow's environment manager
    (``virtualenv`` or ``uv``) from the model's declared requirements; cached under
    ``env_root``."""
    from mlflow.utils.virtualenv import _get_or_create_virtualenv

    manager = request["env_manager"]
    try:
        activate = _get_or_create_virtualenv(
            Path(request["model_dir"]),
            env_root_dir=request["env_root"],
            capture_output=True,
            env_manager=manager,
        )
    except Exception as exc:
        raise Refused("env", _one_line(exc)) from exc
    # "source <env>/bin/activate": the environment's own interpreter is beside the script.
    python = Path(activate.split(" ", 1)[-1]).parent / "python"
    if not python.exists():
        raise Refused("env", f"no python in the environment MLflow built ({python.parent})")
    return python


def _enter_environment(python: Path) -> None:
    """Replace this process with the same entry point in the model's environment: same pid,
    same process group, same private folder. Package index settings stay behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["VIRTUAL_ENV"] = str(python.parent.parent)
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    os.execve(str(python), [str(python), "-m", MODULE, IN_ENV], env)


def _bound_memory(request: dict[str, Any]) -> None:
    """Cap this process's data memory (and that of everything it starts or execs into) before
    any model code runs: a model that wants more gets a MemoryError, reported as such."""
    memory = request.get("memory")
    if isinstance(memory, int) and memory > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))


def main(argv: list[str]) -> int:
    _watch_parent()
    request = json.loads(Path(REQUEST).read_text(encoding="utf-8"))
    try:
        if IN_ENV not in argv:
            _bound_memory(request)
        if request["env_manager"] != "local" and IN_ENV not in argv:
            _enter_environment(build_environment(request))
        predict(request)
    except MemoryError as exc:  # numpy, pandas, pyarrow and the model's own allocations
        _write_json(RESULT, {"ok": False, "stage": "memory", "message": _one_line(exc)})
        return 0
    except Refused as exc:
        _write_json(RESULT, {"ok": False, "stage": exc.stage, "message": str(exc)})
        return 0
    _write_json(RESULT, {"ok": True})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
