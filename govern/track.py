"""Training-side helper: log the training data so a later audit can find and prove it.

MLflow keeps a dataset's source and an 8-character digest of its first 10,000 rows, but not its
label column. ``log_training_data`` records what an auditor needs and MLflow drops: the label, the
positive label, the sensitive features and a SHA-256 over every byte of the data.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError
from govern.lineage import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    TAG_LABEL,
    TAG_POSITIVE_LABEL,
    TAG_ROWS,
    TAG_SENSITIVE,
    TAG_SHA256,
    TRAINING_CONTEXT,
    read_table,
    register_artifact_source,
    sha256_of,
)

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.data.pandas_dataset import PandasDataset


def _write(df: pd.DataFrame, path: Path) -> None:
    name = path.name.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        if name.endswith(PARQUET_SUFFIXES):
            df.to_parquet(tmp, index=False)
        elif name.endswith(CSV_SUFFIXES):
            compression = "infer" if not name.endswith(".csv") else None
            df.to_csv(
                tmp,
                index=False,
                compression={"method": "gzip", "mtime": 0} if name.endswith(".gz") else compression,
            )
        else:
            raise DataError(f"{path}: write the training data as .parquet or .csv")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def log_training_data(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    label: str,
    sensitive_features: Sequence[str],
    name: str | None = None,
    positive_label: Any = None,
    artifact: bool = False,
) -> PandasDataset:
    """Write ``df`` to ``path`` and log it as the active run's training input.

    The logged dataset is built from the file as re-read from disk, not from ``df``: the auditor
    will read the file, so the digest must be of what the file holds (CSV, for one, does not keep
    dtypes). With ``artifact=True`` the file is also uploaded to the run's artifacts and the
    dataset's source points there (``runs:/<run>/training-data/<file>``), so an audit on another
    machine can fetch it.
    """
    import mlflow
    from mlflow.data.pandas_dataset import from_pandas

    missing = [c for c in [label, *sensitive_features] if c not in df.columns]
    if missing:
        raise DataError(f"columns not in the DataFrame: {', '.join(map(str, missing))}")
    if isinstance(sensitive_features, str):
        raise TypeError("sensitive_features must be a list of column names, not a string")
    target = Path(path)
    _write(df, target)
    written = read_table(target)
    sha = sha256_of(target)
    run = mlflow.active_run() or mlflow.start_run()
    source: str = str(target.resolve())
    if artifact:
        register_artifact_source()
        mlflow.log_artifact(str(target), artifact_path="training-data")
        source = f"runs:/{run.info.run_id}/training-data/{target.name}"
    dataset = from_pandas(written, source=source, name=name or target.name, targets=label)
    tags = {
        TAG_LABEL: label,
        TAG_SENSITIVE: json.dumps(list(sensitive_features)),
        TAG_SHA256: sha,
        TAG_ROWS: str(len(written)),
    }
    if positive_label is not None:
        tags[TAG_POSITIVE_LABEL] = json.dumps(positive_label)
    mlflow.log_input(dataset, context=TRAINING_CONTEXT, tags=tags)
    return dataset
