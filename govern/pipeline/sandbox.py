"""Start the prediction child with nothing worth stealing, and end it whatever happens.

A model's code runs when MLflow loads it. govern's own process holds what a malicious model
would want: registry credentials in the environment or in the tracking URI, and (for signed
evidence) the path of a signing key. So the model runs in a child process that is given an
allow-listed environment (never govern's), a fresh empty HOME, a private working folder and no
inherited descriptors beyond a closed stdin and two log files; where Linux allows it cheaply
(``unshare``), in its own PID namespace, so govern's ``/proc/<pid>/environ`` and command line
are not even visible. What this does not prevent is written in docs/governance.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import govern
from govern.errors import DataError, GovernError, OutOfMemory, UsageError

MODEL_ENV_MANAGERS = ("local", "virtualenv", "uv")
"""Where the model predicts: govern's own interpreter, or the model's pinned environment built
by MLflow's ``virtualenv`` (pyenv + venv + pip) or ``uv`` environment manager."""

DEFAULT_BOUND = 1800.0
"""Seconds a prediction child may run (building its environment included) before it is killed;
``$GOVERN_PREDICT_TIMEOUT`` changes it. The run's ``--timeout`` still ends it earlier."""

MEMORY_VARIABLE = "GOVERN_PREDICT_MEMORY"
"""The prediction child's memory bound (``512m``, ``8g`` or bytes); unset, none. For the pandas
engine's child it is the data memory of each of its processes (``RLIMIT_DATA``: the heap and
private mappings written, not shared libraries), set by the child before the model loads, so a
model that asks for more gets a ``MemoryError`` instead of the kernel's out-of-memory killer
ending it (or the audit). For the Spark engine's child it is its JVM's heap
(``spark.driver.memory``), Spark's own bound: see ``spark_predict``."""

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}

LOG_TAIL = 4096
"""Bytes of the child's stderr read back, for the reason a crashed child gives."""

_PASSED = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONHASHSEED", "SYSTEMROOT")
_PASSED_PREFIXES = ("LC_",)
_NETWORK = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "UV_INDEX_URL",
    "UV_EXTRA_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_FIND_LINKS",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)
"""Passed only when an environment manager must install packages; the child drops them (PIP_*,
UV_*) before it runs the model. Proxies and CA bundles stay: the model's libraries may need them
too."""


class ChildFailed(Exception):
    """The child ended without an answer: crashed, killed, or over its bound."""


_UNSHARE_SIGKILL = "unshare: sigprocmask unblock failed"
"""What util-linux's ``unshare --fork`` (2.38) writes, exiting 1, when its child died of SIGKILL:
it tries to die of the same signal and cannot set SIGKILL's handler. Its only way to say so."""


@dataclass(frozen=True)
class Child:
    """What one child run left behind in its private folder."""

    folder: Path
    returncode: int

    def stderr_tail(self) -> str:
        """The last non-empty line the child wrote to stderr (bounded), for a message."""
        path = self.folder / "stderr.log"
        try:
            with path.open("rb") as fh:
                fh.seek(max(path.stat().st_size - LOG_TAIL, 0))
                text = fh.read(LOG_TAIL).decode("utf-8", errors="replace")
        except OSError:
            return ""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return lines[-1][:300] if lines else ""

    def killed_by(self) -> int | None:
        """The signal that ended the child, or None if it exited. Under ``unshare`` a SIGKILL
        is seen only in unshare's own last words (``_UNSHARE_SIGKILL``)."""
        if self.returncode < 0:
            return -self.returncode
        if self.returncode == 1 and self.stderr_tail().startswith(_UNSHARE_SIGKILL):
            return int(signal.SIGKILL)
        return None


def killed_error(child: Child, what: str) -> GovernError | None:
    """The error for a child a signal ended (``what``: what it was doing), in one line: for
    SIGKILL, which is how the kernel's out-of-memory killer ends a process, ``OutOfMemory`` with
    the remedy; None if the child exited by itself."""
    number = child.killed_by()
    if number is None:
        return None
    try:
        name = signal.Signals(number).name
    except ValueError:
        name = f"signal {number}"
    text = f"{what}: the prediction process was killed by signal {number} ({name})"
    if number != signal.SIGKILL:
        return DataError(text)
    bound = memory_bound()
    hint = (
        f"lower {MEMORY_VARIABLE} (now {format_bytes(bound)}) below the memory this machine has"
        if bound is not None
        else f"set {MEMORY_VARIABLE} (e.g. {MEMORY_VARIABLE}=4g) below the memory this machine "
        "has, so that the model gets a MemoryError instead"
    )
    return OutOfMemory(
        f"{text}, which is how the kernel's out-of-memory killer ends a process: most likely "
        f"the model ran out of memory; give the audit more memory, or {hint}"
    )


def parse_bytes(text: str) -> int:
    """``512m``, ``8g``, ``1073741824`` -> bytes (JVM-style suffixes, powers of 1024)."""
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "")
    try:
        amount = int(float(number) * _UNITS[unit])
    except (ValueError, KeyError):
        amount = 0
    if amount <= 0:
        raise UsageError(f"{MEMORY_VARIABLE}={text!r}: expected a size such as 512m or 8g")
    return amount


def format_bytes(amount: int | None) -> str:
    """Bytes as the largest whole unit (``4g``, ``512m``), as the bound is written."""
    if amount is None:
        return "unbounded"
    for unit in ("t", "g", "m", "k"):
        if amount % _UNITS[unit] == 0:
            return f"{amount // _UNITS[unit]}{unit}"
    return str(amount)


def memory_bound() -> int | None:
    """The prediction child's memory bound in bytes from ``$GOVERN_PREDICT_MEMORY``, or None.
    A malformed value is a usage error, never silently no bound."""
    text = os.environ.get(MEMORY_VARIABLE, "").strip()
    return parse_bytes(text) if text else None


def bound() -> float:
    """The per-prediction bound in seconds, from ``$GOVERN_PREDICT_TIMEOUT`` if it is valid."""
    try:
        value = float(os.environ.get("GOVERN_PREDICT_TIMEOUT", ""))
    except ValueError:
        return DEFAULT_BOUND
    return value if value > 0 else DEFAULT_BOUND


def env_root() -> Path:
    """Where MLflow's environment managers keep the environments they build (reused across
    audits: building one downloads the model's libraries). ``$GOVERN_MODEL_ENV_ROOT`` moves it."""
    given = os.environ.get("GOVERN_MODEL_ENV_ROOT")
    if given:
        return Path(given).expanduser()
    return Path.home() / ".cache" / "govern" / "model-envs"


def child_environment(folder: Path, manager: str) -> dict[str, str]:
    """The child's whole environment: an allow-list, never a copy of govern's minus secrets
    (a deny-list misses the next credential variable someone invents)."""
    env = {k: v for k, v in os.environ.items() if k in _PASSED or k.startswith(_PASSED_PREFIXES)}
    tools = [str(Path(sys.executable).parent)]
    uv = shutil.which("uv") or shutil.which("uv", path=tools[0])
    if uv:
        tools.append(str(Path(uv).parent))
    env["PATH"] = os.pathsep.join([*dict.fromkeys(tools), env.get("PATH", os.defpath)])
    env.update(
        HOME=str(folder / "home"),
        TMPDIR=str(folder / "tmp"),
        PYTHONPATH=str(folder / "lib"),
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        DO_NOT_TRACK="1",
    )
    if manager != "local":
        env.update({k: v for k, v in os.environ.items() if k in _NETWORK})
        root = env_root()
        env["UV_CACHE_DIR"] = str(root / "uv-cache")
        env["PYENV_ROOT"] = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
        pyenv = shutil.which("pyenv") or str(Path(env["PYENV_ROOT"]) / "bin" / "pyenv")
        if Path(pyenv).exists():
            env["PATH"] = f"{Path(pyenv).parent}{os.pathsep}{env['PATH']}"
    return env


@contextlib.contextmanager
def private_folder() -> Iterator[Path]:
    """A fresh folder only this user can open: the child's working directory, HOME and TMPDIR,
    and ``lib/govern`` (a link to govern's package, the one thing put on its import path, so a
    model pickled with govern's classes loads and nothing else of govern's environment leaks
    in). Removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="govern-predict-"))
    try:
        for sub in ("home", "tmp", "lib"):
            (folder / sub).mkdir(mode=0o700)
        (folder / "lib" / "govern").symlink_to(Path(govern.__file__).resolve().parent)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@functools.cache
def namespace_prefix() -> tuple[str, ...]:
    """``unshare`` arguments that put the child in its own user and PID namespaces (with its own
    /proc), if this machine allows it; else nothing and the child is a plain process."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return ()
    prefix = (
        unshare,
        "--user",
        "--map-root-user",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
    )
    try:
        probe = subprocess.run(
            [*prefix, "true"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            env={"PATH": os.environ.get("PATH", os.defpath)},
        )
    except (OSError, subprocess.SubprocessError):
        return ()
    return prefix if probe.returncode == 0 else ()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the child and everything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def run_child(
    folder: Path,
    manager: str,
    seconds: float,
    *,
    module: str = "govern.pipeline.predict_child",
    passed: tuple[str, ...] = (),
) -> Child:
    """Run ``module`` (``govern.pipeline.predict_child`` unless told) in ``folder`` and wait at
    most ``seconds``. ``passed`` names further variables of govern's environment the child needs
    (the Spark child needs ``JAVA_HOME``); each is named, never a pattern.

    The child leads a new process group, so whatever stops this wait (its bound, the run's
    ``--timeout`` alarm raising here, an interrupt) kills it and its descendants before the
    exception goes on; under ``unshare --kill-child`` it also dies with this process.
    """
    command = [
        *namespace_prefix(),
        sys.executable,
        "-m",
        module,
    ]
    env: dict[str, str] = child_environment(folder, manager)
    env.update({k: os.environ[k] for k in passed if k in os.environ})
    with (folder / "stdout.log").open("wb") as out, (folder / "stderr.log").open("wb") as err:
        proc = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            close_fds=True,
            start_new_session=True,
        )
    try:
        returncode = proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        raise ChildFailed(f"no answer within {seconds:g} s; the process was killed") from None
    finally:
        _kill_group(proc)  # also reaps strays a finished child left in its group
    return Child(folder, returncode)
