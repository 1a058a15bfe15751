"""Everything govern reads from and writes to the MLflow model registry.

All registry calls go through this module so that pagination, timeouts, error wording and secret
scrubbing are done once. MLflow's HTTP defaults retry for many minutes before giving up; govern sets
shorter bounds (unless the user set MLflow's own variables) so CI learns of a dead server quickly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from govern.errors import NotFoundError, RegistryError, RegistryUnavailable, UsageError
from govern.model.selector import Selector
from govern.redact import redact_uri, register_uri_secrets, scrub

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

T = TypeVar("T")

# Bounded network behaviour unless the user chose otherwise with MLflow's own variables.
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
}
DEFAULT_PAGE_SIZE = 200
READY = "READY"


def default_tracking_uri() -> str:
    """The URI a command uses when none is given: ``$MLFLOW_TRACKING_URI``, else MLflow's default
    (``sqlite:///mlflow.db`` in the working directory)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    import mlflow

    return str(mlflow.get_tracking_uri())


def quiet_mlflow() -> None:
    """Set the environment govern runs MLflow in: no telemetry, bounded HTTP, quiet logs.

    Process-wide, so it is the caller's decision: the CLI, the demo and worker processes call it
    once at start; a library user keeps their own settings."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # stdout carries only govern's requested output (JSON a CI job parses).
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)


@dataclass(frozen=True)
class VersionInfo:
    """A model version as listed by the registry, with the aliases that point at it."""

    model: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    source: str
    status: str
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str | None = None
    user_id: str | None = None
    creation_timestamp: int | None = None
    model_id: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.model}/{self.version}"


_API_REQUEST_RE = re.compile(
    r"API request to (?P<url>\S+) failed with exception (?P<rest>.*)", re.S
)
_CAUSE_RE = re.compile(r"Caused by (?P<kind>\w+)\((?P<msg>.*?)\)\)?\s*$", re.S)
_KNOWN_CAUSES = (
    ("too many 5", "the server kept answering with errors"),
    ("Connection refused", "connection refused"),
    ("Read timed out", "the server did not answer in time (read timeout)"),
    ("timed out", "the server did not answer in time (timeout)"),
    ("Name or service not known", "host name not found"),
    ("Temporary failure in name resolution", "host name not found"),
    ("RemoteDisconnected", "the server closed the connection"),
    ("Connection reset", "the connection was reset"),
)


def _explain_request_error(text: str) -> str | None:
    """MLflow wraps urllib3's long retry messages; keep the endpoint and the actual cause."""
    match = _API_REQUEST_RE.search(text)
    if not match:
        return None
    endpoint = match.group("url").split("?")[0]
    rest = match.group("rest")
    reason = next((say for needle, say in _KNOWN_CAUSES if needle in rest), None)
    if reason is None:
        cause = _CAUSE_RE.search(rest)
        reason = f"{cause.group('kind')}: {cause.group('msg')}" if cause else rest
    status = re.search(r"too many (\d{3}) error responses", rest)
    if status:
        reason = f"HTTP {status.group(1)} from the server ({reason})"
    return f"request to {endpoint} failed: {reason}"


def one_line(exc: BaseException) -> str:
    """First meaningful line of an exception message, secrets scrubbed."""
    text = str(exc).strip() or type(exc).__name__
    text = _explain_request_error(text) or text
    line = text.splitlines()[0].strip()
    if len(line) > 300:
        line = line[:297] + "..."
    return scrub(line)


def is_unreachable(exc: BaseException) -> bool:
    """Whether a failure means the server could not be reached (worth a retry), as opposed to
    the server answering that something is wrong (which a retry will not change)."""
    if isinstance(exc, RegistryUnavailable):
        return True
    if _API_REQUEST_RE.search(str(exc)):  # MLflow gave up after its own retries
        return True
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectionError", "Timeout", "ReadTimeout", "ConnectTimeout"})


def _is_not_found(exc: BaseException) -> bool:
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


class Registry:
    """A connection to one tracking server or sqlite registry."""

    def __init__(self, tracking_uri: str, *, page_size: int = DEFAULT_PAGE_SIZE):
        """Open the registry at ``tracking_uri``, exactly as given.

        Nothing global changes: MLflow's tracking and registry URIs and the environment are left
        as they are (the CLI sets its environment once with ``quiet_mlflow``), and every download
        names this URI explicitly.
        """
        if not tracking_uri:
            raise UsageError("no tracking URI: pass --tracking-uri or set MLFLOW_TRACKING_URI")
        register_uri_secrets(tracking_uri)
        from mlflow.tracking import MlflowClient

        self.uri = tracking_uri
        self.display_uri = redact_uri(tracking_uri)
        self.page_size = page_size
        self._experiment_ids: dict[str, str] = {}
        if tracking_uri.startswith("sqlite:///"):
            db = Path(tracking_uri[len("sqlite:///") :])
            if str(db) not in ("", ":memory:") and not db.is_file():
                raise RegistryError(
                    f"no registry database at {self.display_uri} (file does not exist); "
                    "pass --tracking-uri or set MLFLOW_TRACKING_URI"
                )
        try:
            self.client: MlflowClient = MlflowClient(
                tracking_uri=tracking_uri, registry_uri=tracking_uri
            )
        except Exception as exc:
            raise RegistryError(
                f"cannot open registry {self.display_uri}: {one_line(exc)}"
            ) from exc

    # -- plumbing ---------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one registry call; every failure becomes a one-line GovernError."""
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise self.error_for(what, exc) from exc

    def error_for(self, what: str, exc: BaseException) -> RegistryError:
        """The one-line GovernError a failed registry call becomes (for callers that first
        look for a more specific meaning, as the webhook commands do)."""
        if _is_not_found(exc):
            return NotFoundError(f"{what}: not found")
        if is_unreachable(exc):
            return RegistryUnavailable(
                f"registry {self.display_uri}: {what} failed: {one_line(exc)}"
            )
        return RegistryError(f"registry {self.display_uri}: {what} failed: {one_line(exc)}")

    def _pages(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            page = self.call(what, fn, max_results=self.page_size, page_token=token, **kwargs)
            yield from page
            token = getattr(page, "token", None)
            if not token:
                return
            if token in seen_tokens:
                raise RegistryError(f"registry {self.display_uri}: {what}: page token repeats")
            seen_tokens.add(token)

    # -- reading ----------------------------------------------------------------------------

    def ping(self) -> None:
        """Fail fast, with a clear message, when the registry cannot be read at all."""
        self.call(
            "listing registered models",
            self.client.search_registered_models,
            max_results=1,
        )

    def model_names(self) -> list[str]:
        models = self._pages("listing registered models", self.client.search_registered_models)
        return sorted({m.name for m in models})

    def aliases_of(self, name: str) -> dict[str, tuple[str, ...]]:
        """version -> aliases pointing at it."""
        model = self.call(f"model '{name}'", self.client.get_registered_model, name)
        by_version: dict[str, list[str]] = {}
        for alias, version in (getattr(model, "aliases", None) or {}).items():
            by_version.setdefault(str(version), []).append(alias)
        return {v: tuple(sorted(a)) for v, a in by_version.items()}

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of a model, across every result page, oldest first."""
        aliases = self.aliases_of(name)
        quote = '"' if "'" in name else "'"
        found = self._pages(
            f"listing versions of model '{name}'",
            self.client.search_model_versions,
            filter_string=f"name = {quote}{name}{quote}",
        )
        infos = [self._info(mv, aliases) for mv in found if mv.name == name]
        # Cross-check the paged listing against what the model itself says: every version an
        # alias points at must have been listed, or the listing is partial and auditing it
        # would silently skip versions.
        listed = {v.version for v in infos}
        unlisted = sorted(set(aliases) - listed, key=int)
        if unlisted:
            raise RegistryError(
                f"registry {self.display_uri}: the version listing of model '{name}' is "
                f"incomplete (aliased version(s) {', '.join(unlisted)} missing); not auditing "
                "a partial registry"
            )
        return sorted(infos, key=lambda v: int(v.version))

    def version(self, name: str, version: str) -> VersionInfo:
        self.aliases_of(name)  # a clear "model not found" before "version not found"
        mv = self.call(
            f"model '{name}' version {version}", self.client.get_model_version, name, version
        )
        return self._info(mv, self.aliases_of(name))

    def version_by_alias(self, name: str, alias: str) -> VersionInfo:
        aliases = self.aliases_of(name)
        if not any(alias in names for names in aliases.values()):
            raise NotFoundError(f"alias '{alias}' of model '{name}': not found")
        mv = self.call(
            f"alias '{alias}' of model '{name}'",
            self.client.get_model_version_by_alias,
            name,
            alias,
        )
        return self._info(mv, aliases)

    def _info(self, mv: Any, aliases: Mapping[str, tuple[str, ...]]) -> VersionInfo:
        return VersionInfo(
            model=mv.name,
            version=str(mv.version),
            aliases=aliases.get(str(mv.version), ()),
            run_id=mv.run_id or None,
            source=mv.source or "",
            status=str(mv.status or ""),
            tags=dict(mv.tags or {}),
            description=mv.description or None,
            user_id=mv.user_id or None,
            creation_timestamp=mv.creation_timestamp,
            model_id=getattr(mv, "model_id", None) or None,
        )

    def resolve(
        self,
        selectors: Sequence[Selector],
        *,
        all_models: bool = False,
        latest: int | None = None,
        aliased_only: bool = False,
    ) -> list[VersionInfo]:
        """Turn selectors (or ``--all``) into the exact versions to audit, without duplicates.

        ``latest`` keeps the N highest versions of each model, ``aliased_only`` the versions an
        alias points at; both narrow the selection after it is read in full.
        """
        found = self._resolve(selectors, all_models=all_models)
        if aliased_only:
            found = [v for v in found if v.aliases]
        if latest is not None:
            by_model: dict[str, list[VersionInfo]] = {}
            for v in found:
                by_model.setdefault(v.model, []).append(v)
            keep = {
                (v.model, v.version)
                for vs in by_model.values()
                for v in sorted(vs, key=lambda x: int(x.version))[-latest:]
            }
            found = [v for v in found if (v.model, v.version) in keep]
        return found

    def _resolve(self, selectors: Sequence[Selector], *, all_models: bool) -> list[VersionInfo]:
        if all_models and selectors:
            raise UsageError("give model selectors or --all, not both")
        if not all_models and not selectors:
            raise UsageError(
                "name at least one model (NAME, NAME/VERSION, NAME@ALIAS) or use --all"
            )
        out: dict[tuple[str, str], VersionInfo] = {}
        if all_models:
            names = self.model_names()
            if not names:
                raise RegistryError(
                    f"registry {self.display_uri} has no registered models: nothing to audit"
                )
            for name in names:
                for info in self.versions(name):
                    out[(info.model, info.version)] = info
            return list(out.values())
        for sel in selectors:
            if sel.version is not None:
                infos = [self.version(sel.name, sel.version)]
            elif sel.alias is not None:
                infos = [self.version_by_alias(sel.name, sel.alias)]
            else:
                infos = self.versions(sel.name)
                if not infos:
                    raise NotFoundError(f"model '{sel.name}' has no versions")
            for info in infos:
                out.setdefault((info.model, info.version), info)
        return list(out.values())

    # -- writing ----------------------------------------------------------------------------

    def set_version_tags(self, info: VersionInfo, tags: Mapping[str, str]) -> None:
        for key, value in tags.items():
            self.call(
                f"tagging {info.ref}",
                self.client.set_model_version_tag,
                info.model,
                info.version,
                key,
                value,
            )

    def set_alias(self, info: VersionInfo, alias: str) -> None:
        self.call(
            f"setting alias '{alias}' on {info.ref}",
            self.client.set_registered_model_alias,
            info.model,
            alias,
            info.version,
        )

    def alias_target(self, name: str, alias: str) -> str | None:
        """The version an alias points at now, or None if it is unset."""
        return self.aliases_reverse(name).get(alias)

    def aliases_reverse(self, name: str) -> dict[str, str]:
        model = self.call(f"model '{name}'", self.client.get_registered_model, name)
        return {a: str(v) for a, v in (getattr(model, "aliases", None) or {}).items()}

    def experiment_id(self, name: str) -> str | None:
        """The id of an experiment, ``None`` if it does not exist; looked up once per name.

        Every version's audit reads the audit experiment for pins and history, then writes to
        it: one lookup serves them all. An absent experiment is not remembered, so the first
        audit's write is seen.
        """
        if name not in self._experiment_ids:
            exp = self.call(f"experiment '{name}'", self.client.get_experiment_by_name, name)
            if exp is None:
                return None
            self._experiment_ids[name] = str(exp.experiment_id)
        return self._experiment_ids[name]

    def audit_experiment_id(self, name: str) -> str:
        """The experiment audits are recorded in, created on first use."""
        found = self.experiment_id(name)
        if found is not None:
            return found
        location = None
        if self.uri.startswith("sqlite:///"):
            # MLflow would default to ./mlruns in whatever folder govern runs from; keep audit
            # artifacts beside the registry instead.
            db = Path(self.uri[len("sqlite:///") :]).resolve()
            location = (db.parent / "govern-artifacts").as_uri()
        try:
            created = str(
                self.call(
                    f"creating experiment '{name}'",
                    self.client.create_experiment,
                    name,
                    artifact_location=location,
                )
            )
        except RegistryError:
            # Another audit (a parallel worker or a second govern) created it first.
            found = self.experiment_id(name)
            if found is None:
                raise
            return found
        self._experiment_ids[name] = created
        return created
