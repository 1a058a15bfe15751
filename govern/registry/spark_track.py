"""``log_training_data`` for Spark DataFrames: write on the executors, prove, then log.

Nothing is collected on the driver. Spark's executors write the parquet files; for
``format="delta"`` the driver then commits those files to the Delta log with ``deltalake``
(delta-rs): a new table is converted in place (``convert_to_deltalake``, version 0), an existing
one gets a commit that replaces its rows with the new files (``create_write_transaction``,
overwrite), so earlier versions stay readable by time travel. The driver reads only file names,
sizes and the log. No Delta jars are needed, and none are downloaded.

What is recorded is what an audit on Spark recomputes: the manifest digest of the written
snapshot (``govern.sha256``), its row fingerprint (``govern.row_fingerprint``) and, for Delta,
the version (``govern.delta_version``), since MLflow records no version 0 and none when it
cannot ask the Delta jars.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from govern.errors import DataError
from govern.registry.client import one_line
from govern.registry.lineage import TAG_DELTA_VERSION, TAG_ROW_FINGERPRINT, TAG_SHA256
from govern.registry.spark_session import INSTALL_HINT

FORMATS = ("parquet", "delta")


def is_spark_frame(df: Any) -> bool:
    """A pyspark DataFrame (classic or Spark Connect), without importing pyspark."""
    return any(
        klass.__name__ == "DataFrame" and klass.__module__.startswith("pyspark.sql")
        for klass in type(df).__mro__
    )


def _local_root(path: str) -> Path:
    if "://" in path and not path.startswith("file:"):
        raise DataError(
            f"{path}: govern.track writes Spark training data to a local or mounted path; "
            "write cloud tables with Spark and log them with mlflow.data.from_spark(df, "
            "path=..., version=...)"
        )
    return Path(unquote(path[len("file://") :] if path.startswith("file://") else path))


def write_spark(df: Any, path: str, fmt: str, partition_by: Sequence[str]) -> int | None:
    """Write ``df`` under ``path``; the Delta version written, or ``None`` for parquet."""
    if fmt not in FORMATS:
        raise DataError(f"format {fmt!r}: govern.track writes Spark data as one of {FORMATS}")
    root = _local_root(path)
    writer = df.write.partitionBy(*partition_by) if partition_by else df.write
    if fmt == "parquet":
        writer.mode("overwrite").parquet(str(root))
        return None
    try:
        from deltalake import DeltaTable
    except ImportError:
        raise DataError(f"writing Delta needs deltalake: {INSTALL_HINT}") from None
    exists = (root / "_delta_log").is_dir()
    if not exists and root.exists() and any(root.iterdir()):
        raise DataError(f"{root} exists and is not a Delta table: write Delta to a new folder")
    before = set(DeltaTable(str(root)).file_uris()) if exists else set()
    already = {str(p) for p in root.rglob("*.parquet")} if root.exists() else set()
    writer.mode("append").parquet(str(root))
    if not exists:
        _convert(root, df, partition_by)
    else:
        new = [p for p in root.rglob("*.parquet") if str(p) not in already | before]
        _commit(root, df, partition_by, new)
    return int(DeltaTable(str(root)).version())


def _arrow_schema(df: Any, columns: Sequence[str] | None = None) -> Any:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(df.schema)
    if columns is None:
        return schema
    return pa.schema([schema.field(c) for c in columns])


def _convert(root: Path, df: Any, partition_by: Sequence[str]) -> None:
    from deltalake import Schema, convert_to_deltalake

    partitions = Schema.from_arrow(_arrow_schema(df, partition_by)) if partition_by else None
    try:
        convert_to_deltalake(
            str(root), partition_by=partitions, partition_strategy="hive" if partitions else None
        )
    except Exception as exc:
        raise DataError(f"cannot create Delta table {root}: {one_line(exc)}") from exc


def _partition_values(relative: Path) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for part in relative.parts[:-1]:
        key, _, value = part.partition("=")
        values[unquote(key)] = None if value == "__HIVE_DEFAULT_PARTITION__" else unquote(value)
    return values


def _commit(root: Path, df: Any, partition_by: Sequence[str], files: list[Path]) -> None:
    from deltalake import DeltaTable
    from deltalake.transaction import AddAction, RemoveAction

    now = int(time.time() * 1000)
    actions: list[AddAction | RemoveAction] = [
        AddAction(
            path=p.relative_to(root).as_posix(),
            size=p.stat().st_size,
            partition_values=_partition_values(p.relative_to(root)),
            modification_time=now,
            data_change=True,
            stats="{}",
        )
        for p in files
    ]
    try:
        DeltaTable(str(root)).create_write_transaction(
            actions,
            "overwrite",
            _arrow_schema(df),
            partition_by=list(partition_by) or None,
        )
    except Exception as exc:
        for p in files:  # the commit failed: leave no orphan files behind
            os.unlink(p)
        raise DataError(f"cannot commit to Delta table {root}: {one_line(exc)}") from exc


def log_spark(
    df: Any,
    path: str | os.PathLike[str],
    context: str,
    tags: dict[str, str],
    *,
    name: str | None,
    label: str | None,
    fmt: str,
    partition_by: Sequence[str],
) -> Any:
    """Write, re-read at the written snapshot, prove and log one Spark dataset."""
    import mlflow
    from mlflow.data.spark_dataset import from_spark

    from govern.registry.spark_datasets import (
        delta_snapshot,
        manifest_files,
        parquet_snapshot,
        read_snapshot,
    )
    from govern.registry.spark_integrity import manifest_digest, row_fingerprint, spark_manifest

    spark = df.sparkSession
    target = str(Path(os.fspath(path)).resolve())
    label_name = name or Path(target).name
    version = write_spark(df, target, fmt, partition_by)
    if version is None:
        snapshot = parquet_snapshot(target, label_name)
    else:
        snapshot = delta_snapshot(target, version, label_name, delta_jars=False)
    written = read_snapshot(spark, snapshot)
    entries = spark_manifest(spark, snapshot.root, manifest_files(snapshot))
    recorded = {
        **tags,
        TAG_SHA256: manifest_digest(entries, single_file=snapshot.single_file),
        TAG_ROW_FINGERPRINT: row_fingerprint(written),
    }
    if version is not None:
        recorded[TAG_DELTA_VERSION] = json.dumps(version)
    if mlflow.active_run() is None:
        mlflow.start_run()
    # A version as text: MLflow drops a falsy version, so the integer 0 would not be recorded.
    dataset = from_spark(
        written,
        path=target,
        version=str(version) if version is not None else None,
        name=label_name,
        targets=label,
    )
    mlflow.log_input(dataset, context=context, tags=recorded)
    return dataset
