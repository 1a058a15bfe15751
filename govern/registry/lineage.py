"""From a model version to the exact training data it was fitted on.

MLflow records lineage as version -> run -> dataset inputs; the input tagged with context
``training`` is the training set. Only that link is trusted: govern never guesses a dataset from
names or paths, and any ambiguity is an error the user resolves in the policy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from govern.errors import DataError, LineageError
from govern.redact import redact_uri
from govern.registry.client import Registry, VersionInfo, one_line

if TYPE_CHECKING:
    import pandas as pd

TRAINING_CONTEXT = "training"
CONTEXT_TAG = "mlflow.data.context"
# Dataset-input tags written by govern.track at training time.
TAG_LABEL = "govern.label"
TAG_POSITIVE_LABEL = "govern.positive_label"
TAG_SENSITIVE = "govern.sensitive_features"
TAG_SHA256 = "govern.sha256"
TAG_ROWS = "govern.rows"

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz")
_ARTIFACT_SCHEMES = ("runs", "mlflow-artifacts", "models")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class TrainingInput:
    """A dataset input of the training run, as MLflow recorded it."""

    name: str
    digest: str
    source_type: str
    source_json: str
    schema_json: str | None
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        try:
            data = json.loads(self.source_json)
        except (TypeError, ValueError):
            return str(self.source_json)
        if isinstance(data, dict):
            for key in ("uri", "url", "path", "table_name"):
                if isinstance(data.get(key), str):
                    return str(data[key])
        return str(self.source_json)

    @property
    def is_pandas(self) -> bool:
        """MLflow's pandas digest only applies to datasets logged from a DataFrame."""
        return bool(self.schema_json) and "mlflow_colspec" in str(self.schema_json)

    def tag_json(self, key: str) -> Any:
        """A govern.track tag, JSON-decoded; ``None`` when absent or unreadable."""
        raw = self.tags.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return raw


@dataclass(frozen=True)
class Lineage:
    run_id: str
    training: TrainingInput
    other_inputs: tuple[str, ...] = ()


def training_run_id(registry: Registry, info: VersionInfo) -> str:
    """The run that produced the version; for a logged model (``models:/m-...``) its source run."""
    if info.run_id:
        return info.run_id
    model_id = info.model_id
    if not model_id and info.source.startswith("models:/m-"):
        model_id = info.source[len("models:/") :].split("/")[0]
    if model_id:
        logged = registry.call(
            f"logged model {model_id} of {info.ref}", registry.client.get_logged_model, model_id
        )
        if getattr(logged, "source_run_id", None):
            return str(logged.source_run_id)
    raise LineageError(f"{info.ref}: no training run is recorded for this version")


def find_lineage(registry: Registry, info: VersionInfo, dataset: str | None = None) -> Lineage:
    """Follow version -> run -> the single dataset input with context ``training``."""
    run_id = training_run_id(registry, info)
    try:
        run = registry.client.get_run(run_id)
    except Exception as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            raise LineageError(f"{info.ref}: training run {run_id} no longer exists") from exc
        raise LineageError(
            f"{info.ref}: cannot read training run {run_id}: {one_line(exc)}"
        ) from exc
    if run.info.lifecycle_stage == "deleted":
        raise LineageError(f"{info.ref}: training run {run_id} was deleted")
    inputs = list(getattr(run.inputs, "dataset_inputs", None) or [])
    training: list[TrainingInput] = []
    others: list[str] = []
    for di in inputs:
        tags = {t.key: t.value for t in (di.tags or [])}
        ds = di.dataset
        record = TrainingInput(
            name=ds.name,
            digest=ds.digest,
            source_type=ds.source_type,
            source_json=ds.source,
            schema_json=getattr(ds, "schema", None),
            tags=tags,
        )
        if tags.get(CONTEXT_TAG) == TRAINING_CONTEXT:
            training.append(record)
        else:
            others.append(f"{ds.name} ({tags.get(CONTEXT_TAG) or 'no context'})")
    if dataset is not None:
        chosen = [t for t in training if t.name == dataset]
        if not chosen:
            names = ", ".join(t.name for t in training) or "none"
            raise LineageError(
                f"{info.ref}: run {run_id} has no training dataset named '{dataset}' "
                f"(training datasets: {names})"
            )
        training = chosen[:1]
    if not training:
        found = f" (other inputs: {', '.join(others)})" if others else ""
        raise LineageError(
            f"{info.ref}: run {run_id} has no dataset input with context 'training'{found}"
        )
    if len(training) > 1:
        names = ", ".join(f"'{t.name}' ({t.digest})" for t in training)
        raise LineageError(
            f"{info.ref}: run {run_id} has {len(training)} training datasets: {names}; "
            "name one with 'dataset:' in the policy"
        )
    return Lineage(run_id=run_id, training=training[0], other_inputs=tuple(others))


_ARTIFACT_SOURCE_REGISTERED = False


def register_artifact_source() -> None:
    """Teach MLflow to accept ``runs:/`` and ``mlflow-artifacts:`` URIs as dataset sources.

    MLflow deliberately excludes these schemes from its dataset sources, yet they are the portable
    way to point at data uploaded with the run. The source type is ``mlflow_artifact``.
    """
    global _ARTIFACT_SOURCE_REGISTERED
    if _ARTIFACT_SOURCE_REGISTERED:
        return
    from mlflow.data.dataset_source import DatasetSource
    from mlflow.data.dataset_source_registry import register_dataset_source

    class MlflowArtifactDatasetSource(DatasetSource):
        """A dataset stored as an MLflow artifact (``runs:/`` or ``mlflow-artifacts:``)."""

        def __init__(self, uri: str):
            self.uri = uri

        @staticmethod
        def _get_source_type() -> str:
            return "mlflow_artifact"

        def load(self, dst_path: str | None = None) -> str:
            from mlflow.artifacts import download_artifacts

            return str(download_artifacts(artifact_uri=self.uri, dst_path=dst_path))

        @staticmethod
        def _can_resolve(raw_source: Any) -> bool:
            return isinstance(raw_source, str) and urlsplit(raw_source).scheme in (
                "runs",
                "mlflow-artifacts",
            )

        @classmethod
        def _resolve(cls, raw_source: Any) -> MlflowArtifactDatasetSource:
            return cls(str(raw_source))

        def to_dict(self) -> dict[str, Any]:
            return {"uri": self.uri}

        @classmethod
        def from_dict(cls, source_dict: dict[Any, Any]) -> MlflowArtifactDatasetSource:
            return cls(str(source_dict["uri"]))

    # MLflow's annotation says an instance; its registry stores and calls the class.
    register_dataset_source(MlflowArtifactDatasetSource)  # type: ignore[arg-type]
    _ARTIFACT_SOURCE_REGISTERED = True


def _local_path(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        return Path(uri)
    return None


def fetch_training_data(registry: Registry, training: TrainingInput, dest: Path) -> Path:
    """Bring the data to a local path: local files as they are, artifact URIs downloaded."""
    uri = training.uri
    shown = redact_uri(uri)
    local = _local_path(uri)
    if local is not None:
        if not local.exists():
            raise DataError(f"training data {shown} does not exist (dataset '{training.name}')")
        return local
    scheme = urlsplit(uri).scheme
    try:
        if scheme in _ARTIFACT_SCHEMES:
            from mlflow.artifacts import download_artifacts

            return Path(
                download_artifacts(artifact_uri=uri, dst_path=str(dest), tracking_uri=registry.uri)
            )
        import mlflow.data
        from mlflow.entities import Dataset as DatasetEntity

        entity = DatasetEntity(
            name=training.name,
            digest=training.digest,
            source_type=training.source_type,
            source=training.source_json,
        )
        source = mlflow.data.get_source(entity)
        return Path(source.load(dst_path=str(dest)))  # type: ignore[call-arg]
    except Exception as exc:
        raise DataError(f"cannot fetch training data {shown}: {one_line(exc)}") from exc


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
        )
    return [path]


def sha256_of(path: Path) -> str:
    """SHA-256 of a file's bytes; for a folder, of each file's relative path and bytes in order.

    This covers every row, unlike MLflow's digest, which hashes the first 10,000 rows and keeps
    eight hex characters.
    """
    digest = hashlib.sha256()
    files = _files(path)
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    """``parquet`` or ``csv``, by name and then by content; anything else is a DataError."""
    files = _files(path)
    if not files:
        raise DataError(f"training data folder {path} holds no files")
    name = files[0].name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    with files[0].open("rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    suffix = "".join(files[0].suffixes) or "(none)"
    raise DataError(f"training data {path}: unsupported format {suffix} (supported: parquet, csv)")


def read_table(path: Path) -> pd.DataFrame:
    """Read parquet or csv the way govern.track writes it and MLflow's users usually log it."""
    import pandas as pd

    fmt = detect_format(path)
    try:
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"training data {path}: the file is empty (no header, no rows)") from None
    except Exception as exc:
        raise DataError(f"training data {path}: cannot read as {fmt}: {one_line(exc)}") from exc


def mlflow_digest(df: pd.DataFrame) -> str:
    """MLflow's own pandas digest, recomputed with MLflow's code so the two can only agree."""
    from mlflow.data.digest_utils import compute_pandas_digest

    if len(df) == 0:
        # MLflow tests ``df.map(type) == str``; on an empty pandas 3 string column ``map`` keeps the
        # string dtype and the comparison raises. With no rows the digest is the same for any
        # dtypes (the row count and the column names), so compare on object columns.
        df = df.astype(object)
    return str(compute_pandas_digest(df))
