"""What every command shares at run time: one-line errors and exit codes, stdout kept for
govern's own output, progress on stderr, and opening the registry the command names.

Nothing heavy is imported at module level, so ``govern --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from govern.errors import EXIT_INFRA, EXIT_PASS, EXIT_RETRY, EXIT_VIOLATION, GovernError
from govern.redact import scrub

if TYPE_CHECKING:
    from govern.config.policy import Policy
    from govern.model.results import AuditRun
    from govern.registry.client import Registry
    from govern.render.outputs import OutputRequest

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BY_VERDICT = {"pass": EXIT_PASS, "fail": EXIT_VIOLATION, "error": EXIT_INFRA}


def _exit_code(run: AuditRun) -> int:
    """0 passed, 1 violations, 3 could not audit (fix needed), 4 try again later."""
    if run.error_kind == "retry":
        return EXIT_RETRY
    return EXIT_BY_VERDICT[run.verdict]


def _say(message: str) -> None:
    click.echo(scrub(message), err=True)


class _Progress:
    """Progress on stderr: a status line rewritten in place on a terminal, and one line per
    finished version (no transient lines) when stderr is a log file or CI console."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.pending = False

    def __call__(self, message: str, transient: bool = False) -> None:
        if not self.tty:
            if not transient:
                _say(message)
            return
        import shutil

        width = shutil.get_terminal_size((100, 20)).columns - 1
        text = scrub(message)[:width]
        if transient:
            sys.stderr.write("\r" + text.ljust(width))
            self.pending = True
        else:
            sys.stderr.write(("\r" + " " * width + "\r" if self.pending else "") + text + "\n")
            self.pending = False
        sys.stderr.flush()


_STDOUT: list[Any] = []


def _out(text: str) -> None:
    """Write requested output to the real stdout (libraries' prints were sent to stderr)."""
    click.echo(text, file=_STDOUT[-1] if _STDOUT else None)


def _debug_enabled() -> bool:
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and root.obj and root.obj.get("debug"))


@contextlib.contextmanager
def _own_stdout() -> Iterator[Any]:
    """Keep stdout for govern's requested output alone, down to the file descriptor.

    Libraries print progress and URLs, and a model's code may ``print`` or write to descriptor 1
    directly: while a command runs, descriptor 1 and ``sys.stdout`` point at stderr, and
    govern writes its output to a private copy of the real stdout. (Under a test runner whose
    stdout has no descriptor, only ``sys.stdout`` is redirected.)
    """
    real = sys.stdout
    try:
        fd = real.fileno()
    except (AttributeError, OSError, ValueError):
        with contextlib.redirect_stdout(sys.stderr):
            yield real
        return
    real.flush()
    saved = os.dup(fd)
    os.dup2(sys.stderr.fileno(), fd)
    stream = os.fdopen(
        os.dup(saved), "w", encoding=real.encoding or "utf-8", errors="replace", closefd=True
    )
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield stream
    finally:
        stream.flush()
        stream.close()
        os.dup2(saved, fd)
        os.close(saved)


def handle_errors(fn: F) -> F:
    """Turn every failure into one scrubbed line on stderr and the documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with _own_stdout() as out:
                _STDOUT.append(out)
                try:
                    return fn(*args, **kwargs)
                finally:
                    _STDOUT.pop()
        except GovernError as exc:
            if _debug_enabled():
                _say(traceback.format_exc())
            _say(f"govern: error: {exc}")
            sys.exit(exc.exit_code)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except KeyboardInterrupt:
            _say("govern: interrupted")
            sys.exit(130)
        except Exception as exc:
            if _debug_enabled():
                _say(traceback.format_exc())
            first = (str(exc).strip().splitlines() or [""])[0]
            _say(
                f"govern: internal error: {type(exc).__name__}: {first} "
                "(run with --debug for the traceback)"
            )
            sys.exit(EXIT_INFRA)

    return wrapper  # type: ignore[return-value]


def _registry(tracking_uri: str | None) -> Registry:
    """Open the registry the command names; the process environment for MLflow is set here,
    once, not by the library."""
    from govern.registry.client import Registry, default_tracking_uri, quiet_mlflow

    quiet_mlflow()
    registry = Registry(tracking_uri or default_tracking_uri())
    registry.ping()
    return registry


def _selectors(selectors: tuple[str, ...]) -> list[Any]:
    from govern.config.selectors import parse_selector

    return [parse_selector(s) for s in selectors]


def _outputs(
    out: Path | None, templates: Path | None, junit: Path | None, pdf: bool, paper: str
) -> OutputRequest:
    """The files a command was asked to write, checked before any work is done."""
    from govern.render.outputs import OutputRequest

    request = OutputRequest(out=out, templates=templates, junit=junit, pdf=pdf, paper=paper)
    request.check()
    return request


def _emit(run: AuditRun, fmt: str) -> None:
    """Print the run in the requested format and the one-line summary on stderr."""
    from govern.render.formats import render_run

    _out(render_run(run, fmt))
    for waiver_id in run.unused_waivers:
        _say(f"govern: warning: waiver {waiver_id} matches no check of the audited versions")
    counts = run.counts()
    waived = run.passed_with_waivers()
    with_waivers = f" ({waived} with waivers)" if waived else ""
    _say(
        f"{len(run.versions)} version(s): {counts['pass']} passed{with_waivers}, "
        f"{counts['fail']} failed, {counts['error']} error(s); verdict {run.verdict.upper()}"
    )


def _optional_policy(path: Path | None) -> Policy | None:
    """The policy named, else ./govern.yaml if there is one: verify works without any."""
    from govern.config.policy import default_policy_path, load_policy

    if path is not None:
        return load_policy(path)
    default = default_policy_path()
    return load_policy(default) if default.is_file() else None


def _checked_key(signing_key: Path | None) -> str | None:
    """The key file, loaded once before any work so that a bad key is a usage error (exit 2)."""
    if signing_key is None:
        return None
    from govern.attest.keys import load_signer

    load_signer(signing_key)
    return str(signing_key)
