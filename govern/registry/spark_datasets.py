"""A version's dataset on Spark, read at the exact snapshot the model was trained on.

What ``mlflow.data.from_spark`` records (mlflow/data/spark_dataset.py):

- source type ``spark``: exactly one of ``path`` (read as parquet), ``table_name`` or ``sql``;
- source type ``delta_table``: ``path`` or ``delta_table_name``, and ``delta_table_version``
  when MLflow could find one. It cannot always: it drops version 0 (``if
  self._delta_table_version:``), and it asks the Delta jars for the latest version, so without
  them, or for a path it does not recognise as Delta (it looks for ``_delta_log`` on the local
  file system only), it records none, or a ``spark`` source for a Delta path.

A table name or a query names data that can change after training; only a path (a folder of
files, which govern then hashes) or a Delta version pins it. Delta tables are read without the
Delta jars: ``deltalake`` (delta-rs) lists the snapshot's files at the recorded version, and
Spark reads those parquet files. That path cannot apply deletion vectors or column mapping, so a
table that uses either is refused with a message saying so; where the Delta jars are on the
classpath, Spark reads ``format("delta")`` with ``versionAsOf``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from govern.errors import DataError
from govern.redact import redact_uri
from govern.registry.client import Registry, one_line
from govern.registry.datasets import PARQUET_SUFFIXES, detect_format, fetch_training_data
from govern.registry.lineage import TAG_DELTA_VERSION, TrainingInput
from govern.registry.spark_session import INSTALL_HINT

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NO_DELTA_VERSION = "cannot reproduce: no Delta version recorded"
UNSUPPORTED_DELTA = (
    "it uses {features}, which govern reads only with the Delta jars on Spark's classpath "
    "(io.delta:delta-spark; govern never downloads them)"
)
REFUSED_READER_FEATURES = {"deletionVectors": "deletion vectors", "columnMapping": "column mapping"}


@dataclass(frozen=True)
class Snapshot:
    """Exactly which files make up the data, and how Spark reads them."""

    description: str
    """For messages: ``parquet folder <path>``, ``Delta table <path> at version 3``."""
    root: str
    """Folder or table root (a local path or a URI); manifest paths are relative to it."""
    files: tuple[str, ...]
    """Absolute paths or URIs of the data files, in the order the manifest sorts them."""
    kind: str = "parquet"
    """``parquet`` or ``delta``."""
    single_file: bool = False
    delta_version: int | None = None
    delta_name: str | None = None
    via_jars: bool = False
    """Read with ``format("delta")`` (the Delta jars), not from the listed files."""
    partition_columns: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    """A Delta table's columns in the table's order (Spark puts partition columns last)."""
    schema_json: str | None = None
    """A Delta snapshot's Spark schema (JSON), so partition values get the table's types."""
    log_files: tuple[str, ...] = field(default=())
    """With the Delta jars: the transaction log up to the version, hashed with the files."""


def _local(uri: str) -> Path | None:
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "":
        return Path(uri)
    return None


def _source(training: TrainingInput) -> dict[str, Any]:
    try:
        data = json.loads(training.source_json)
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recorded_delta_version(training: TrainingInput, source: dict[str, Any]) -> int | None:
    """MLflow's ``delta_table_version``, else the version govern.track recorded; they must
    agree when both exist (a disagreement means the lineage cannot be trusted)."""
    mlflow_version = source.get("delta_table_version")
    tagged = training.tags.get(TAG_DELTA_VERSION)
    versions = []
    for value in (mlflow_version, tagged):
        if value is None or value == "":
            continue
        try:
            versions.append(int(value))
        except (TypeError, ValueError):
            raise DataError(
                f"dataset '{training.name}': Delta version {value!r} is not a number"
            ) from None
    if len(set(versions)) > 1:
        raise DataError(
            f"dataset '{training.name}': MLflow recorded Delta version {versions[0]} and "
            f"govern.track recorded {versions[1]}"
        )
    return versions[0] if versions else None


def is_delta_path(path: str) -> bool:
    local = _local(path)
    if local is not None:
        return (local / "_delta_log").is_dir()
    try:
        from deltalake import DeltaTable
    except ImportError:
        return False
    try:
        return bool(DeltaTable.is_deltatable(path))
    except Exception:
        return False


def resolve_snapshot(
    registry: Registry, training: TrainingInput, dest: Path, *, delta_jars: bool = False
) -> Snapshot:
    """The snapshot a dataset input names, or a DataError saying why it cannot be reproduced."""
    source = _source(training)
    name = training.name
    if training.source_type == "delta_table":
        version = recorded_delta_version(training, source)
        if source.get("path"):
            return delta_snapshot(str(source["path"]), version, name, delta_jars=delta_jars)
        table = source.get("delta_table_name")
        if version is None:
            raise DataError(f"{NO_DELTA_VERSION} for Delta table '{table}' (dataset '{name}')")
        if not delta_jars:
            raise DataError(
                f"dataset '{name}': Delta table '{table}' is known by name only; reading it "
                "needs the Delta jars and the metastore that names it: log the table's path "
                "(mlflow.data.from_spark(df, path=..., version=...))"
            )
        return Snapshot(
            description=f"Delta table '{table}' at version {version}",
            root=str(table),
            files=(),
            kind="delta",
            delta_version=version,
            delta_name=str(table),
            via_jars=True,
        )
    if training.source_type == "spark":
        if source.get("path"):
            path = str(source["path"])
            if is_delta_path(path):
                # MLflow did not see Delta here (a cloud path, or no jars to ask for a version).
                version = recorded_delta_version(training, source)
                return delta_snapshot(path, version, name, delta_jars=delta_jars)
            return parquet_snapshot(path, name)
        what = f"table '{source['table_name']}'" if source.get("table_name") else "a SQL query"
        if source.get("sql") or source.get("table_name"):
            raise DataError(
                f"dataset '{name}' was logged from {what} with no snapshot: a table or a query "
                "can return different rows after training, so the audit cannot know it reads "
                "the training data; log a Delta table with its version, or a path "
                "(govern.track.log_training_data(spark_df, path, ...) records both)"
            )
        raise DataError(f"dataset '{name}': its Spark source records no path, table or query")
    # Files logged any other way (a local path, runs:/ artifacts): fetched as the pandas engine
    # fetches them, then read by Spark.
    local = fetch_training_data(registry, training, dest)
    return parquet_snapshot(str(local), name)


def list_files(root: str) -> tuple[list[str], bool]:
    """The data files under ``root`` (as ``sha256_of`` and Spark skip ``.`` and ``_`` names)
    and whether ``root`` is a single file."""
    local = _local(root)
    if local is not None:
        if not local.exists():
            raise DataError(f"training data {redact_uri(root)} does not exist")
        if local.is_file():
            return [str(local.resolve())], True
        found = sorted(
            str(p.resolve())
            for p in local.rglob("*")
            if p.is_file()
            and not p.name.startswith((".", "_"))
            and not any(part.startswith((".", "_")) for part in p.relative_to(local).parts[:-1])
        )
        return found, False
    try:
        from pyarrow import fs

        parts = urlsplit(root)
        scheme = "s3" if parts.scheme in ("s3a", "s3n") else parts.scheme
        filesystem, path = fs.FileSystem.from_uri(f"{scheme}://{parts.netloc}{parts.path}")
        info = filesystem.get_file_info(path)
        if info.type == fs.FileType.File:
            return [root], True
        if info.type == fs.FileType.NotFound:
            raise DataError(f"training data {redact_uri(root)} does not exist")
        selector = fs.FileSelector(path, recursive=True)
        prefix = f"{parts.scheme}://{parts.netloc}"
        base = path.rstrip("/")
        found = []
        for item in filesystem.get_file_info(selector):
            relative = item.path[len(base) + 1 :]
            if item.type == fs.FileType.File and not any(
                piece.startswith((".", "_")) for piece in relative.split("/")
            ):
                found.append(f"{prefix}/{item.path.lstrip('/')}")
        return sorted(found), False
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot list {redact_uri(root)}: {one_line(exc)}") from exc


def parquet_snapshot(root: str, name: str) -> Snapshot:
    files, single = list_files(root)
    shown = redact_uri(root)
    if not files:
        raise DataError(f"training data folder {shown} holds no files (dataset '{name}')")
    local = _local(root)
    if local is not None and detect_format(local) != "parquet":
        raise DataError(
            f"training data {shown} is not parquet: the Spark engine reads parquet folders and "
            "Delta tables; audit CSV with --engine pandas"
        )
    if local is None and not files[0].lower().endswith(PARQUET_SUFFIXES):
        raise DataError(f"training data {shown}: the Spark engine reads parquet files only")
    return Snapshot(
        description=f"parquet {'file' if single else 'folder'} {shown}",
        root=root,
        files=tuple(files),
        single_file=single,
    )


def delta_problem(table: Any) -> str | None:
    """Why the files-only path cannot read this Delta snapshot exactly, or ``None``."""
    protocol = table.protocol()
    features = set(protocol.reader_features or ())
    used = [label for key, label in REFUSED_READER_FEATURES.items() if key in features]
    configuration = table.metadata().configuration or {}
    mode = str(configuration.get("delta.columnMapping.mode", "none")).lower()
    if mode != "none" and "column mapping" not in used:
        used.append("column mapping")
    if str(configuration.get("delta.enableDeletionVectors", "")).lower() == "true" and (
        "deletion vectors" not in used
    ):
        used.append("deletion vectors")
    return " and ".join(used) if used else None


def delta_snapshot(path: str, version: int | None, name: str, *, delta_jars: bool) -> Snapshot:
    """The files of a Delta table at ``version``, as delta-rs lists them from the log."""
    shown = redact_uri(path)
    if version is None:
        raise DataError(
            f"{NO_DELTA_VERSION} for Delta table {shown} (dataset '{name}'): MLflow records "
            "no version 0 and none for tables it does not recognise; log the data with "
            "govern.track.log_training_data(spark_df, path, format='delta', ...) or pass "
            "version= to mlflow.data.from_spark"
        )
    try:
        from deltalake import DeltaTable
    except ImportError:
        raise DataError(f"reading Delta table {shown} needs deltalake: {INSTALL_HINT}") from None
    try:
        table = DeltaTable(path, version=version)
    except Exception as exc:
        raise DataError(
            f"cannot open Delta table {shown} at version {version}: {one_line(exc)}"
        ) from exc
    problem = delta_problem(table)
    if problem and not delta_jars:
        raise DataError(
            f"cannot read Delta table {shown}: {UNSUPPORTED_DELTA.format(features=problem)}"
        )
    files = list(table.file_uris())
    if path.startswith(("s3a://", "s3n://")):
        scheme = path.split(":", 1)[0]
        files = [f"{scheme}://{f[len('s3://') :]}" if f.startswith("s3://") else f for f in files]
    schema = _spark_schema_json(table)
    log: tuple[str, ...] = ()
    if delta_jars and problem:
        log = tuple(_log_files(path, version))
    return Snapshot(
        description=f"Delta table {shown} at version {version}",
        root=path,
        files=tuple(sorted(files)),
        kind="delta",
        delta_version=version,
        via_jars=delta_jars,
        partition_columns=tuple(table.metadata().partition_columns),
        columns=tuple(f.name for f in table.schema().fields),
        schema_json=schema,
        log_files=log,
    )


def _log_files(path: str, version: int) -> list[str]:
    """The commit files that define the snapshot: with deletion vectors or column mapping the
    data files alone do not say which rows or names the snapshot has."""
    base = path.rstrip("/") + "/_delta_log/"
    return [f"{base}{v:020d}.json" for v in range(version + 1)]


def _spark_schema_json(table: Any) -> str | None:
    """The table's schema as Spark's JSON, from its Arrow form (``None`` if it cannot say)."""
    try:
        import pyarrow as pa
        from pyspark.sql.pandas.types import from_arrow_schema

        arrow = pa.schema(table.schema().to_arrow())
        return str(from_arrow_schema(arrow).json())
    except Exception:
        return None


def read_snapshot(spark: SparkSession, snapshot: Snapshot) -> DataFrame:
    """A DataFrame of exactly the snapshot's rows (lazy: nothing is read until an action)."""
    if snapshot.via_jars:
        reader = spark.read.format("delta").option("versionAsOf", snapshot.delta_version)
        if snapshot.delta_name:
            return reader.table(snapshot.delta_name)
        return reader.load(snapshot.root)
    try:
        if snapshot.kind == "delta":
            return _read_delta_files(spark, snapshot)
        if snapshot.single_file:
            return spark.read.parquet(snapshot.files[0])
        # basePath: partition folders (``g=a/``) come back as columns, as pandas reads them.
        return spark.read.option("basePath", snapshot.root).parquet(*snapshot.files)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {snapshot.description}: {one_line(exc)}") from exc


def _read_delta_files(spark: SparkSession, snapshot: Snapshot) -> DataFrame:
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads(snapshot.schema_json)) if snapshot.schema_json else None
    if not snapshot.files:
        if schema is None:
            raise DataError(f"{snapshot.description} has no files and no readable schema")
        return spark.createDataFrame([], schema)
    reader = spark.read.option("basePath", snapshot.root)
    if schema is not None:
        reader = reader.schema(schema)
    df = reader.parquet(*snapshot.files)
    if snapshot.columns:
        df = df.select(*[f"`{c}`" for c in snapshot.columns])
    return df


def manifest_files(snapshot: Snapshot) -> Sequence[str]:
    """What the manifest hashes: the data files, and with the Delta jars the commit log too."""
    return (*snapshot.files, *snapshot.log_files)


def exists_locally(uri: str) -> bool:
    local = _local(uri)
    return local is not None and os.path.exists(local)
