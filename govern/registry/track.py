"""Training-side helper: log the training data so a later audit can find and prove it.

MLflow keeps a dataset's source and an 8-character digest of its first 10,000 rows, but not its
label column. ``log_training_data`` records what an auditor needs and MLflow drops: the label, the
positive label, the sensitive features and a SHA-256 over every byte of the data.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError
from govern.registry.client import one_line
from govern.registry.datasets import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    read_table,
    register_artifact_source,
    sha256_of,
)
from govern.registry.lineage import (
    TAG_LABEL,
    TAG_POSITIVE_LABEL,
    TAG_SENSITIVE,
    TAG_SHA256,
    TRAINING_CONTEXT,
)
from govern.registry.spark_track import is_spark_frame, log_spark

EVALUATION_CONTEXT = "evaluation"

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.data.pandas_dataset import PandasDataset


_CSV_COMPRESSION = {".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
"""Compression of each compressed CSV suffix, given explicitly: pandas would infer it from the
temporary file's name (``.tmp``) and write plain text under a ``.csv.bz2`` name."""


def _check_suffix(path: Path) -> None:
    if not path.name.lower().endswith(PARQUET_SUFFIXES + CSV_SUFFIXES):
        suffix = "".join(path.suffixes) or "(none)"
        supported = ", ".join(PARQUET_SUFFIXES + CSV_SUFFIXES)
        raise DataError(
            f"{path}: cannot write training data as {suffix}; name the file with one of: "
            f"{supported}"
        )


def _write_csv(df: pd.DataFrame, tmp: str, name: str) -> None:
    if name.endswith(".gz"):
        # No file name and no time in the gzip header: the same data gives the same bytes, so
        # the same SHA-256 (pandas would store the random temporary file's name).
        with (
            open(tmp, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        ):
            df.to_csv(gz, index=False, mode="wb", encoding="utf-8")
        return
    method = next((m for s, m in _CSV_COMPRESSION.items() if name.endswith(s)), None)
    df.to_csv(tmp, index=False, compression={"method": method} if method else None)


def _write(df: pd.DataFrame, path: Path) -> None:
    _check_suffix(path)
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if name.endswith(PARQUET_SUFFIXES):
            df.to_parquet(tmp, index=False)
        else:
            _write_csv(df, tmp, name)
        os.replace(tmp, path)
    except ImportError as exc:  # pyarrow for parquet, zstandard for .csv.zst
        raise DataError(f"{path}: cannot write {''.join(path.suffixes)}: {one_line(exc)}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def log_training_data(
    df: pd.DataFrame | Any,
    path: str | os.PathLike[str],
    *,
    label: str,
    sensitive_features: Sequence[str],
    name: str | None = None,
    positive_label: Any = None,
    artifact: bool = False,
    format: str = "parquet",
    partition_by: Sequence[str] = (),
) -> PandasDataset | Any:
    """Write ``df`` to ``path`` and log it as the active run's training input.

    ``df`` may be a pandas or a Spark DataFrame. A Spark DataFrame is written by the executors
    to the folder ``path`` as parquet (``format="parquet"``, replacing the folder) or as a new
    version of the Delta table there (``format="delta"``, through deltalake: no Delta jars), with
    ``partition_by`` columns as ``col=value`` folders; its manifest digest, row fingerprint and
    Delta version are recorded (``govern.registry.spark_track``). ``format`` and
    ``partition_by`` apply to Spark DataFrames only.

    The logged dataset is built from the file as re-read from disk, not from ``df``: the auditor
    will read the file, so the digest must be of what the file holds (CSV, for one, does not keep
    dtypes). With ``artifact=True`` the file is also uploaded to the run's artifacts and the
    dataset's source points there (``runs:/<run>/training-data/<file>``), so an audit on another
    machine can fetch it.
    """
    if isinstance(sensitive_features, str):
        raise TypeError(
            f"sensitive_features must be a list of column names, not the string "
            f"{sensitive_features!r} (write [{sensitive_features!r}])"
        )
    sensitive = list(sensitive_features)
    if label not in df.columns:
        raise DataError(f"label column {label!r} is not in the DataFrame")
    missing = [c for c in sensitive if c not in df.columns]
    if missing:
        raise DataError(
            f"sensitive feature(s) not in the DataFrame: {', '.join(repr(c) for c in missing)}"
        )
    tags = {TAG_LABEL: label, TAG_SENSITIVE: json.dumps(sensitive)}
    if positive_label is not None:
        tags[TAG_POSITIVE_LABEL] = json.dumps(positive_label)
    if is_spark_frame(df):
        if artifact:
            raise DataError("artifact=True copies a file into the run: not for Spark DataFrames")
        return log_spark(
            df,
            path,
            TRAINING_CONTEXT,
            tags,
            name=name,
            label=label,
            fmt=format,
            partition_by=partition_by,
        )
    return _log(df, path, TRAINING_CONTEXT, tags, name=name, label=label, artifact=artifact)


def log_evaluation_data(
    df: pd.DataFrame | Any,
    path: str | os.PathLike[str],
    *,
    label: str | None = None,
    name: str | None = None,
    artifact: bool = False,
    format: str = "parquet",
    partition_by: Sequence[str] = (),
) -> PandasDataset | Any:
    """Write ``df`` (held-out rows the model was not fitted on) to ``path`` and log it as the
    active run's evaluation input: fairness is then measured there, not in-sample.

    Its label and sensitive features are those logged with the training data; its full SHA-256
    is recorded like the training data's.
    """
    if label is not None and label not in df.columns:
        raise DataError(f"label column {label!r} is not in the DataFrame")
    if is_spark_frame(df):
        if artifact:
            raise DataError("artifact=True copies a file into the run: not for Spark DataFrames")
        return log_spark(
            df,
            path,
            EVALUATION_CONTEXT,
            {},
            name=name,
            label=label,
            fmt=format,
            partition_by=partition_by,
        )
    return _log(df, path, EVALUATION_CONTEXT, {}, name=name, label=label, artifact=artifact)


def _log(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    context: str,
    tags: dict[str, str],
    *,
    name: str | None,
    label: str | None,
    artifact: bool,
) -> PandasDataset:
    """Write, re-read, hash and log one dataset. The logged dataset is built from the file as
    re-read from disk, not from ``df``: the auditor reads the file, so the digest must be of what
    the file holds (CSV, for one, does not keep dtypes)."""
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    target = Path(path)
    _check_suffix(target)
    _write(df, target)
    written = read_table(target)
    sha = sha256_of(target)
    run = mlflow.active_run() or mlflow.start_run()
    source: str = str(target.resolve())
    if artifact:
        register_artifact_source()
        folder = "training-data" if context == TRAINING_CONTEXT else f"{context}-data"
        mlflow.log_artifact(str(target), artifact_path=folder)
        source = f"runs:/{run.info.run_id}/{folder}/{target.name}"
    dataset = from_pandas(written, source=source, name=name or target.name, targets=label)
    mlflow.log_input(dataset, context=context, tags={**tags, TAG_SHA256: sha})
    return dataset
