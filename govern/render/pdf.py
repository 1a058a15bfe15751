"""Print reports to PDF with headless Chromium, for reviewers who file paper or PDF/A archives.

No Python dependency: Chromium is started directly and driven over its DevTools pipe
(``--remote-debugging-pipe``: JSON messages on file descriptors 3 and 4), which is what lets govern
choose the paper size, wait for the page to load, and add a header and footer with page numbers
when a page does not carry its own. govern's reports do carry their own: their ``@page`` margin
boxes (supported by Chromium since 131) repeat model, version, audit date and "Page n of N" on
every page, so a PDF from ``write_pdfs`` and a reviewer's own Ctrl+P print look the same.

The pages printed are govern's own (no script, a CSP forbidding every network access), and the
browser is started so that it could not fetch anything even if a page tried: no DNS, no
background networking, JavaScript switched off for the page, a throw-away profile. Every step is
bounded by a timeout, and the browser's whole process group is killed afterwards.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern._io import atomic_write_bytes
from govern.errors import OutputError

if TYPE_CHECKING:
    from govern.model.results import AuditRun

CHROMIUM_ENV = "GOVERN_CHROMIUM"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
DEFAULT_TIMEOUT = 60.0
"""Seconds allowed for starting Chromium and for each page; a report prints in well under 5."""
PAPER = {"A4": (8.27, 11.69), "Letter": (8.5, 11.0)}
"""Paper sizes in inches, as DevTools wants them."""
MISSING = "PDF needs Chromium: install the 'chromium' package or set GOVERN_CHROMIUM"
FLAGS = (
    "--headless",
    "--no-sandbox",  # containers and CI runners rarely allow Chromium's sandbox; see module doc
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing resolves: no request can leave the host
)


_SOCKET_DIR_MAX = 60
"""Longest $TMPDIR Chromium can use: it puts a Unix socket (paths of at most 107 bytes) in
``$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`` and dies if the path is longer."""


def _browser_env() -> dict[str, str]:
    """The environment Chromium is started with: ours, with a $TMPDIR short enough for its
    socket (a deep temporary folder, as CI runners and pytest use, would stop it starting)."""
    env = dict(os.environ)
    current = tempfile.gettempdir()
    if len(current) > _SOCKET_DIR_MAX:
        for candidate in ("/tmp", "/var/tmp"):
            if os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
                env["TMPDIR"] = candidate
                break
    return env


class PdfError(OutputError):
    """A PDF could not be produced: Chromium is missing, failed or took too long."""


def find_chromium() -> str | None:
    """The Chromium to print with: ``$GOVERN_CHROMIUM``, else the first browser on ``PATH``.

    An explicit ``GOVERN_CHROMIUM`` that does not point at an executable gives ``None`` rather
    than silently printing with some other browser.
    """
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    if configured:
        return shutil.which(configured)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _require_chromium() -> str:
    found = find_chromium()
    if found:
        return found
    configured = os.environ.get(CHROMIUM_ENV, "").strip()
    if configured:
        raise PdfError(f"{MISSING} ({CHROMIUM_ENV}={configured!r} is not an executable)")
    raise PdfError(MISSING)


def _template(text: str, *, page_numbers: bool) -> str:
    """A Chromium header/footer template: the text escaped, small type, optional page numbers.

    Chromium renders these as HTML, so the text (a model name, say) is escaped like any other
    value; ``pageNumber`` and ``totalPages`` are filled in by Chromium itself.
    """
    style = (
        "font-family: system-ui, sans-serif; font-size: 8pt; color: #333; width: 100%; "
        "margin: 0 12mm; display: flex; justify-content: space-between; gap: 8mm;"
    )
    pages = (
        '<span>Page <span class="pageNumber"></span> of <span class="totalPages"></span></span>'
        if page_numbers
        else ""
    )
    return f'<div style="{style}"><span>{html.escape(text)}</span>{pages}</div>'


class _Chromium:
    """One headless Chromium driven over the DevTools pipe; prints any number of pages."""

    def __init__(self, executable: str, timeout: float) -> None:
        import fcntl  # POSIX only; chromium() checks for posix_spawn before getting here

        self.timeout = timeout
        self._buffer = b""
        self._next_id = 0
        self._profile = tempfile.TemporaryDirectory(prefix="govern-chromium-")
        self._log = tempfile.TemporaryFile()
        commands_read, self._commands = os.pipe()
        self._replies, replies_write = os.pipe()
        # The child must find the pipe on fds 3 and 4; move our ends above 9 first so the dup2
        # below cannot overwrite one with the other.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (commands_read, replies_write)]
        os.close(commands_read)
        os.close(replies_write)
        args = [
            executable,
            *FLAGS,
            f"--user-data-dir={self._profile.name}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        devnull = os.open(os.devnull, os.O_RDONLY)
        actions: Sequence[tuple[Any, ...]] = (
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
            (os.POSIX_SPAWN_DUP2, ends[0], 3),
            (os.POSIX_SPAWN_DUP2, ends[1], 4),
        )
        try:
            try:
                self.pid = os.posix_spawn(
                    executable, args, _browser_env(), file_actions=actions, setsid=True
                )
            except NotImplementedError:  # no POSIX_SPAWN_SETSID: a new process group will do
                self.pid = os.posix_spawn(
                    executable, args, _browser_env(), file_actions=actions, setpgroup=0
                )
        except OSError as exc:
            self._cleanup_fds([devnull, *ends, self._commands, self._replies])
            self._profile.cleanup()
            raise PdfError(f"cannot start Chromium ({executable}): {exc.strerror or exc}") from exc
        self._cleanup_fds([devnull, *ends])
        self._exited: int | None = None

    @staticmethod
    def _cleanup_fds(fds: Sequence[int]) -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    # ------------------------------------------------------------------ protocol

    def _send(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode("utf-8") + b"\0"
        try:
            while data:
                written = os.write(self._commands, data)
                data = data[written:]
        except OSError as exc:
            raise PdfError(f"Chromium stopped: {self._stderr_tail() or exc}") from exc
        return self._next_id

    def _receive(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PdfError(f"Chromium did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([self._replies], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise PdfError(f"Chromium stopped: {self._stderr_tail() or 'no reason given'}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed = json.loads(message)
        return parsed if isinstance(parsed, dict) else {}

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        *,
        until_event: str | None = None,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply (and, if given, an event of that session)."""
        deadline = time.monotonic() + self.timeout
        request = self._send(method, params, session)
        reply: dict[str, Any] | None = None
        seen_event = until_event is None
        while reply is None or not seen_event:
            message = self._receive(deadline)
            if message.get("id") == request:
                if "error" in message:
                    error = message["error"]
                    text = error.get("message") if isinstance(error, dict) else error
                    raise PdfError(f"Chromium refused {method}: {text}")
                result = message.get("result")
                reply = result if isinstance(result, dict) else {}
            elif message.get("method") == until_event and message.get("sessionId") == session:
                seen_event = True
            if reply is not None and reply.get("errorText"):
                break  # a failed navigation may never fire its load event
        return reply

    # ------------------------------------------------------------------ printing

    def print_page(
        self, html_path: Path, *, paper: str, header: str = "", footer: str = ""
    ) -> bytes:
        """Load one local page and print it; returns the PDF's bytes."""
        width, height = PAPER[paper]
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        try:
            self.call("Page.enable", None, session)
            self.call("Emulation.setScriptExecutionDisabled", {"value": True}, session)
            url = Path(html_path).resolve().as_uri()
            navigation = self.call(
                "Page.navigate", {"url": url}, session, until_event="Page.loadEventFired"
            )
            if navigation.get("errorText"):
                raise PdfError(f"Chromium cannot open {html_path}: {navigation['errorText']}")
            decorated = bool(header or footer)
            params: dict[str, Any] = {
                "paperWidth": width,
                "paperHeight": height,
                "printBackground": True,
                "preferCSSPageSize": False,
                "displayHeaderFooter": decorated,
                "generateTaggedPDF": True,
            }
            if decorated:
                params.update(
                    headerTemplate=_template(header, page_numbers=False),
                    footerTemplate=_template(footer, page_numbers=True),
                    marginTop=0.75,
                    marginBottom=0.75,
                )
            data = self.call("Page.printToPDF", params, session).get("data")
        finally:
            with contextlib.suppress(PdfError):
                self.call("Target.closeTarget", {"targetId": target})
        if not isinstance(data, str):
            raise PdfError(f"Chromium returned no PDF for {html_path}")
        return base64.b64decode(data)

    def _stderr_tail(self) -> str:
        try:
            self._log.seek(0)
            lines = self._log.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        useful = [line for line in lines if "dbus" not in line and line.strip()]
        return " | ".join(useful[-3:])[:500]

    def close(self) -> None:
        """Ask Chromium to quit, then make sure nothing of it is left running."""
        with contextlib.suppress(PdfError, OSError):
            self._send("Browser.close", None, None)
        deadline = time.monotonic() + 5.0
        while self._exited is None and time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._exited = status
                break
            time.sleep(0.05)
        # Our own process group (setsid/setpgroup above): the browser and its helpers only.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self._exited is None:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self._cleanup_fds([self._commands, self._replies])
        self._log.close()
        self._profile.cleanup()


@contextlib.contextmanager
def chromium(timeout: float = DEFAULT_TIMEOUT) -> Iterator[_Chromium]:
    """A running headless Chromium for printing several pages; stopped on exit."""
    if not hasattr(os, "posix_spawn"):
        raise PdfError("PDF output needs a POSIX system (Linux or macOS) to drive Chromium")
    browser = _Chromium(_require_chromium(), timeout)
    try:
        yield browser
    finally:
        browser.close()


def _paper(paper: str) -> str:
    for name in PAPER:
        if name.lower() == str(paper).lower():
            return name
    raise PdfError(f"unknown paper size {paper!r}: use one of {', '.join(PAPER)}")


def render_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    header: str = "",
    footer: str = "",
    paper: str = "A4",
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Print one local HTML file to ``pdf_path`` (written atomically).

    ``header`` and ``footer`` are plain text repeated on every page, the footer with "Page n of
    N"; leave both empty for pages that lay out their own, as govern's reports do (their header
    and footer would otherwise print twice). Raises ``PdfError`` when Chromium is missing, fails
    or exceeds ``timeout`` seconds.
    """
    paper = _paper(paper)
    source = Path(html_path)
    if not source.is_file():
        raise PdfError(f"cannot print {source}: no such file")
    with chromium(timeout) as browser:
        data = browser.print_page(source, paper=paper, header=header, footer=footer)
    atomic_write_bytes(Path(pdf_path), data)


def write_pdfs(
    run: AuditRun, out_dir: Path, *, paper: str = "A4", timeout: float = DEFAULT_TIMEOUT
) -> list[Path]:
    """Print every version report of a run written by ``write_outputs`` into ``out_dir``.

    Each PDF goes next to its HTML report (``reports/<name>.pdf``). One browser prints them all:
    starting Chromium costs more than printing a page.
    """
    from govern.render.names import report_href

    paper = _paper(paper)
    out_dir = Path(out_dir)
    written: list[Path] = []
    if not run.versions:
        return written
    with chromium(timeout) as browser:
        for version in run.versions:
            html_path = out_dir / report_href(version)
            if not html_path.is_file():
                raise PdfError(f"cannot print {html_path}: write the HTML reports first")
            pdf_path = html_path.with_suffix(".pdf")
            atomic_write_bytes(pdf_path, browser.print_page(html_path, paper=paper))
            written.append(pdf_path)
    return written


def render_pdf_cli(
    html_path: Path, pdf_path: Path, *, executable: str | None = None, timeout: float = 60.0
) -> None:
    """Print with Chromium's own ``--print-to-pdf``: no paper choice and no added header/footer.

    For systems where the DevTools pipe cannot be used; govern's reports still get their page
    header, footer and numbers from their own CSS. Kept deliberately small.
    """
    browser = executable or _require_chromium()
    with tempfile.TemporaryDirectory(prefix="govern-chromium-") as profile:
        target = Path(profile) / "out.pdf"
        args = [
            browser,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={target}",
            "--no-pdf-header-footer",
            Path(html_path).resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                args,
                env=_browser_env(),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not print {html_path} within {timeout:g} s") from exc
        except OSError as exc:
            raise PdfError(f"cannot start Chromium ({browser}): {exc.strerror or exc}") from exc
        if not target.is_file() or target.stat().st_size == 0:
            lines = done.stderr.decode("utf-8", "replace").splitlines()
            tail = [line for line in lines if line.strip() and "dbus" not in line][-1:]
            raise PdfError(f"Chromium did not print {html_path}: {' '.join(tail) or 'no output'}")
        atomic_write_bytes(Path(pdf_path), target.read_bytes())
