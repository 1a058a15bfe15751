"""Model code is untrusted: it predicts in a child process that holds no secret.

Every model here is a real MLflow pyfunc logged with plain MLflow calls; each test runs a real
audit (through the CLI, in process or as a ``govern`` subprocess) and looks at what the model's
code could see or do.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import LABEL, POSITIVE, audit_json, govern_subprocess, results_of, write_policy
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from govern.attest.keys import generate_keypair
from govern.pipeline import sandbox
from govern.track import log_training_data

# Pickled with their code, as a notebook's model is: the child cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

NEGATIVE = "<=50K"
PASSWORD = "secret-tracking-password-9a7d"
AWS_SECRET = "aws-secret-access-key-3b2e"


class Rule(PythonModel):
    """A deterministic classifier: ``>50K`` for 13 or more years of education."""

    def __init__(self, out: str = "") -> None:
        self.out = out

    def labels(self, frame):  # type: ignore[no-untyped-def]
        return np.where(frame["education-num"].to_numpy() >= 13, POSITIVE, NEGATIVE)

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return self.labels(model_input)


class Snoop(Rule):
    """Looks everywhere it was pointed at for a key or a credential and writes what it saw."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import sys

        def read(path: str) -> str:
            try:
                with open(path, "rb") as fh:
                    return fh.read(100_000).decode("utf-8", "replace")
            except OSError as exc:
                return f"unreadable: {exc}"

        seen: dict = {
            "environ": dict(os.environ),
            "argv": sys.argv,
            "executable": sys.executable,
            "cwd": os.getcwd(),
            "ppid": os.getppid(),
            "uid": os.getuid(),
        }
        seen["tree"] = [
            os.path.join(root, name)
            for base in {os.getcwd(), os.environ.get("HOME", ""), os.environ.get("TMPDIR", "")}
            if base
            for root, _dirs, names in os.walk(base)
            for name in names
        ]
        fds = {}
        for fd in os.listdir("/proc/self/fd"):
            try:
                fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                pass
        seen["fds"] = fds
        seen["env_files"] = {
            v: read(v)
            for v in os.environ.values()
            if v.startswith("/") and os.path.isfile(v) and ".parquet" not in v
        }
        ppid = os.getppid()
        seen["parent"] = (
            {"environ": read(f"/proc/{ppid}/environ"), "cmdline": read(f"/proc/{ppid}/cmdline")}
            if ppid > 1
            else {}
        )
        others = {}
        for pid in [p for p in os.listdir("/proc") if p.isdigit()][:2000]:
            text = read(f"/proc/{pid}/environ")
            if "SECRET" in text or "PASSWORD" in text:
                others[pid] = text
        seen["other_processes"] = others
        found, budget = [], 20_000
        for root, dirs, names in os.walk("/"):
            depth = root.count(os.sep)
            if depth >= 3 or root.startswith(("/proc", "/sys", "/dev")):
                dirs[:] = []
            found.extend(
                (os.path.join(root, n), read(os.path.join(root, n)))
                for n in names
                if "signing" in n or n.endswith(".key")
            )
            budget -= len(names) + 1
            if budget <= 0:
                break
        seen["found"] = found
        with open(self.out, "w") as fh:
            fh.write(__import__("json").dumps(seen, default=str))
        return self.labels(model_input)


class Noisy(Rule):
    """Prints to stdout, to descriptor 1 directly and to stderr while it predicts."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import sys

        print("NOISE-print {not json")
        sys.stdout.flush()
        os.write(1, b"NOISE-fd1 ]]]\n")
        os.write(2, b"NOISE-fd2\n")
        return self.labels(model_input)


class Exits(Rule):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]

        os._exit(3)


class SysExit(Rule):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        raise SystemExit("the model called sys.exit")


class Garbage(Rule):
    """Writes the child's answer files itself, as nonsense, and leaves."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]

        for name in ("result.json", "predictions.json"):
            with open(name, "w") as fh:
                fh.write('{"ok": true}' if name == "result.json" else '{"values": [[1, 2]]}')
        os._exit(0)


class Hangs(Rule):
    """Never answers; appends to ``out`` every 0.1 s so a test can see whether it still runs."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import time

        while True:
            with open(self.out, "a") as fh:
                fh.write(".")
            time.sleep(0.1)


class WhereAmI(Rule):
    """Writes the interpreter it runs in, then predicts."""

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import sys

        with open(self.out, "w") as fh:
            fh.write(sys.executable)
        return self.labels(model_input)


def _log(
    uri: str,
    name: str,
    data: pd.DataFrame,
    model: PythonModel,
    data_path: Path,
    requirements: list[str] | None = None,
) -> Any:
    """Log ``data`` as the training input of a run, log ``model`` with plain MLflow, register."""
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    mlflow.set_experiment("training")
    features = data.drop(columns=[LABEL])
    with mlflow.start_run():
        log_training_data(
            data, data_path, label=LABEL, sensitive_features=["sex"], positive_label=POSITIVE
        )
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=infer_signature(features, Rule().labels(features)),
            registered_model_name=name,
            pip_requirements=requirements
            or [f"{d}=={version(d)}" for d in ("mlflow", "cloudpickle", "pandas", "numpy")],
        )


def _fairness_model_check(result: Any) -> dict[str, Any]:
    [v] = results_of(result)["versions"]
    [check] = [c for c in v["checks"] if c["id"] == "fairness.model"]
    return check


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write_policy(tmp_path / "govern.yaml")


def test_model_code_finds_no_secret(sqlite_uri, tmp_path, tmp_path_factory, adult, policy):
    keys = tmp_path_factory.mktemp("keys")
    key = generate_keypair(keys).private  # a real key: govern loads it to sign
    key_secret = key.read_text().splitlines()[1]  # the base64 body of the PEM
    findings = tmp_path_factory.mktemp("findings") / "seen.json"
    _log(sqlite_uri, "snoop", adult.head(300), Snoop(str(findings)), tmp_path / "d" / "t.parquet")
    secrets = {
        "GOVERN_SIGNING_KEY": str(key),
        "MLFLOW_TRACKING_PASSWORD": PASSWORD,
        "MLFLOW_TRACKING_USERNAME": "auditor",
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AZURE_CLIENT_SECRET": PASSWORD + "-azure",
        "DATABRICKS_TOKEN": PASSWORD + "-databricks",
        "GOOGLE_APPLICATION_CREDENTIALS": str(key),
    }
    args = ["audit", "snoop/1", "--policy", str(policy), "--tracking-uri", sqlite_uri]
    proc = govern_subprocess(*args, "--format", "json", "--no-write", cwd=tmp_path, env=secrets)
    stdout, stderr = proc.communicate(timeout=300)

    [v] = json.loads(stdout)["versions"]
    assert v["metadata"]["model_env_manager"] == "local"
    assert v["attestation"]["signed"] is True  # govern read the key; the model (below) did not
    assert _fairness_model_check_absent(v), stderr  # the model predicted: fairness ran
    seen = json.loads(findings.read_text())
    if not sandbox.namespace_prefix():  # no PID namespace here: /proc of govern is visible
        seen.pop("parent")
        seen.pop("other_processes")
    else:
        assert seen["ppid"] == 0 and seen["other_processes"] == {}
    text = json.dumps(seen)
    for secret in (key_secret, str(key), keys.name, PASSWORD, AWS_SECRET, "auditor"):
        assert secret not in text
    registry_path = sqlite_uri.removeprefix("sqlite:///")
    assert registry_path not in text and str(Path(registry_path).parent) not in text
    allowed = {
        "PATH",
        "HOME",
        "TMPDIR",
        "PYTHONPATH",
        "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE",
        "MLFLOW_DISABLE_TELEMETRY",
        "DO_NOT_TRACK",
        "LANG",
        "LANGUAGE",
        "TZ",
        "PYTHONHASHSEED",
    }
    # (MLflow may set a variable or two of its own while it loads the model.)
    extra = {k for k in seen["environ"] if k not in allowed and not k.startswith("LC_")}
    assert extra <= {"MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID"} and not {
        k for k in extra if seen["environ"][k]
    } - {"MLFLOW_RUN_ID"}
    assert seen["cwd"].startswith(tempfile_root()) and "govern-predict-" in seen["cwd"]
    assert seen["environ"]["HOME"].startswith(seen["cwd"])
    # stdin is /dev/null, stdout and stderr are the child's own logs; nothing else is open
    # except what the interpreter and MLflow opened themselves.
    assert seen["fds"]["0"] == "/dev/null"
    assert seen["fds"]["1"].endswith("stdout.log") and seen["fds"]["2"].endswith("stderr.log")
    assert not any(str(tmp_path) in target for target in seen["fds"].values())


def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()


def _fairness_model_check_absent(v: dict[str, Any]) -> bool:
    ids = {c["id"]: c["status"] for c in v["checks"]}
    return "fairness.model" not in ids and any(
        i.startswith("fairness.") and s in ("pass", "fail") for i, s in ids.items()
    )


def test_model_printing_does_not_corrupt_json(sqlite_uri, tmp_path, adult, policy):
    _log(sqlite_uri, "noisy", adult.head(300), Noisy(), tmp_path / "d" / "t.parquet")
    args = ["audit", "noisy/1", "--policy", str(policy), "--tracking-uri", sqlite_uri]
    proc = govern_subprocess(*args, "--format", "json", "--no-write", cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=300)

    assert "NOISE" not in stdout
    [v] = json.loads(stdout)["versions"]
    assert _fairness_model_check_absent(v), stderr


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Exits(), "the prediction process exited with code 3 and no answer"),
        (SysExit(), "exited with code 1 and no answer (the model called sys.exit)"),
        (Garbage(), "the prediction process answered garbage"),
        (Hangs("/dev/null"), "no answer within 10 s; the process was killed"),
    ],
    ids=["os-exit", "sys-exit", "garbage", "hangs"],
)
def test_model_that_crashes_or_hangs_is_a_one_line_error(
    sqlite_uri, tmp_path, adult, policy, monkeypatch, model, expected
):
    if isinstance(model, Hangs):
        monkeypatch.setenv("GOVERN_PREDICT_TIMEOUT", "10")
    _log(sqlite_uri, "broken", adult.head(200), model, tmp_path / "d" / "t.parquet")

    result = audit_json(sqlite_uri, "broken/1", policy)

    assert result.exit_code == 3, result.output
    check = _fairness_model_check(result)
    assert check["status"] == "error"
    assert check["summary"].startswith("fairness not evaluated: model could not predict: ")
    assert expected in check["summary"]
    assert "\n" not in check["summary"]


def _still_running(beat: Path) -> bool:
    before = beat.stat().st_size if beat.exists() else 0
    time.sleep(1.5)
    return (beat.stat().st_size if beat.exists() else 0) != before


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_timeout_kills_the_prediction_child(sqlite_uri, tmp_path, adult, policy, jobs):
    beats = [tmp_path / f"beat-{i}" for i in range(int(jobs))]
    for i, beat in enumerate(beats):
        _log(sqlite_uri, "hangs", adult.head(200), Hangs(str(beat)), tmp_path / f"d{i}" / "t.pq")
    args = ["audit", "hangs", "--policy", str(policy), "--tracking-uri", sqlite_uri]
    timeout = "20" if jobs == "1" else "45"  # a worker first starts and imports mlflow
    proc = govern_subprocess(
        *args, "--no-write", "--format", "json", "--timeout", timeout, "--jobs", jobs, cwd=tmp_path
    )
    stdout, stderr = proc.communicate(timeout=240)

    assert proc.returncode == 4, stderr
    assert all(beat.exists() for beat in beats), stderr  # every model did start predicting
    for v in json.loads(stdout)["versions"]:
        assert v["verdict"] == "error"
    assert not any(_still_running(beat) for beat in beats)


def test_uv_builds_the_models_own_environment(
    sqlite_uri, tmp_path, tmp_path_factory, adult, policy, monkeypatch
):
    """Slow the first time: uv installs the model's pinned requirements from the index."""
    if shutil.which("uv") is None and not (Path(sys.executable).parent / "uv").exists():
        pytest.fail("uv is part of the test extra: pip install -e '.[test]'")
    root = tmp_path_factory.getbasetemp() / "model-envs"
    monkeypatch.setenv("GOVERN_MODEL_ENV_ROOT", str(root))
    where = tmp_path / "where.txt"
    requirements = [
        f"mlflow-skinny=={version('mlflow')}",
        *(f"{d}=={version(d)}" for d in ("cloudpickle", "pandas", "numpy", "pyarrow")),
    ]
    _log(
        sqlite_uri,
        "own-env",
        adult.head(300),
        WhereAmI(str(where)),
        tmp_path / "t.parquet",
        requirements,
    )

    result = audit_json(sqlite_uri, "own-env/1", policy, "--model-env-manager", "uv")

    [v] = results_of(result)["versions"]
    assert v["metadata"]["model_env_manager"] == "uv"
    assert _fairness_model_check_absent(v), result.output
    assert where.read_text().startswith(str(root))  # predicted by the environment's python
    local = audit_json(sqlite_uri, "own-env/1", policy)
    assert results_of(local)["versions"][0]["fairness"] == v["fairness"]


def test_environment_that_cannot_be_built_is_an_error(
    sqlite_uri, tmp_path, tmp_path_factory, adult, policy, monkeypatch
):
    monkeypatch.setenv("GOVERN_MODEL_ENV_ROOT", str(tmp_path_factory.getbasetemp() / "envs-bad"))
    info = _log(sqlite_uri, "no-env", adult.head(200), Rule(), tmp_path / "t.parquet")
    location = mlflow.MlflowClient(sqlite_uri).get_logged_model(info.model_id).artifact_location
    python_env = Path(location.removeprefix("file://")) / "python_env.yaml"
    python_env.write_text("python: 3.1.0\nbuild_dependencies: []\ndependencies: []\n")

    result = audit_json(sqlite_uri, "no-env/1", policy, "--model-env-manager", "uv")

    assert result.exit_code == 3
    check = _fairness_model_check(result)
    assert check["summary"].startswith(
        "fairness not evaluated: cannot build the model's environment with uv: "
    )
    assert "\n" not in check["summary"]


def test_cli_offers_every_environment_manager():
    from govern.cli import MODEL_ENV_MANAGERS

    assert MODEL_ENV_MANAGERS == list(sandbox.MODEL_ENV_MANAGERS)
