"""Bringing a version's training data to this machine, reading it, and hashing every byte of it.

MLflow hashes only the first 10,000 rows of a DataFrame and keeps eight hex characters; govern
also hashes the full file(s) so that a change anywhere in the data is seen.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from govern.errors import DataError, OutOfMemory
from govern.redact import redact_uri
from govern.registry.client import Registry, one_line
from govern.registry.lineage import TrainingInput

if TYPE_CHECKING:
    import pandas as pd

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst", ".csv.xz")
_ARTIFACT_SCHEMES = ("runs", "mlflow-artifacts", "models")
_CHUNK = 1 << 20


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


NOT_RELOADABLE = {
    "code": "MLflow logged it from an object in memory (autologging does this) and kept no copy "
    "of the data",
}
"""Dataset source types that record where a dataset came from but not how to read it again."""

HOW_TO_LOG = (
    "log the data from a file so it can be audited: govern.track.log_training_data(df, path, "
    "label=..., sensitive_features=...), or mlflow.log_input(mlflow.data.from_pandas(df, "
    "source=<file path or runs:/ URI>), context='training')"
)


def fetch_training_data(registry: Registry, training: TrainingInput, dest: Path) -> Path:
    """Bring the data to a local path: local files as they are, artifact URIs downloaded."""
    why = NOT_RELOADABLE.get(training.source_type)
    if why is not None:
        raise DataError(
            f"dataset '{training.name}' (source type '{training.source_type}') cannot be "
            f"reloaded: {why}; {HOW_TO_LOG}"
        )
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
            return download(registry, uri, dest)
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
    """SHA-256 of a file's bytes; for a folder, of every file in name order, each framed.

    This covers every row, unlike MLflow's digest, which hashes the first 10,000 rows and keeps
    eight hex characters. In a folder each file contributes its relative name and its length
    before its bytes, so no two different folders hash alike: without the framing
    ``{a: "X" + "b\\0" + "Y"}`` and ``{a: "X", b: "Y"}`` would give the same stream. A single
    file is hashed as ``sha256sum`` hashes it, so anyone can check it by hand.
    """
    digest = hashlib.sha256()
    folder = path.is_dir()
    for file in _files(path):
        if folder:
            name = file.relative_to(path).as_posix().encode("utf-8", "surrogateescape")
            size = file.stat().st_size
            digest.update(len(name).to_bytes(8, "big") + name + size.to_bytes(8, "big"))
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
    except MemoryError as exc:  # pyarrow's ArrowMemoryError is one too
        raise OutOfMemory(
            f"the training data {path} does not fit in memory as a pandas DataFrame "
            f"({one_line(exc)}); use --engine spark"
        ) from exc
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


def download(registry: Registry, artifact_uri: str, dest: Path) -> Path:
    """Download artifacts through this registry, named explicitly (never the global URI)."""
    from mlflow.artifacts import download_artifacts

    return Path(
        download_artifacts(
            artifact_uri=artifact_uri,
            dst_path=str(dest),
            tracking_uri=registry.uri,
            registry_uri=registry.uri,
        )
    )


def download_model(registry: Registry, model: str, version: str, dest: Path) -> Path:
    """Fetch a registered model's files exactly as stored, before anything can execute them.

    The version's artifact location is resolved with this registry's own client: MLflow's
    ``models:/`` resolution would look the model up through the process-wide tracking URI.
    """
    uri = f"models:/{model}/{version}"
    try:
        location = str(registry.client.get_model_version_download_uri(model, version))
        if location.startswith("models:/m-"):
            model_id = location[len("models:/") :].split("/")[0]
            location = str(registry.client.get_logged_model(model_id).artifact_location)
        return download(registry, location, dest)
    except Exception as exc:
        raise DataError(f"cannot download model {uri}: {one_line(exc)}") from exc
