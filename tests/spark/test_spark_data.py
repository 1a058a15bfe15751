"""Reading a snapshot on Spark and proving it: manifest, row fingerprint, partitions, Delta."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from govern.errors import DataError
from govern.registry.datasets import sha256_of
from govern.registry.lineage import TAG_DELTA_VERSION, TrainingInput
from govern.registry.spark_datasets import (
    NO_DELTA_VERSION,
    delta_snapshot,
    parquet_snapshot,
    read_snapshot,
    resolve_snapshot,
)
from govern.registry.spark_integrity import (
    local_stream_sha256,
    manifest_digest,
    row_fingerprint,
    spark_manifest,
)

ROWS = [(1, "a", 1.5, "x"), (2, "b", None, "y"), (3, "a", 2.0, None), (4, "b", 0.25, "x")]
SCHEMA = "id long, g string, v double, s string"


def _frame(spark, rows=ROWS):
    return spark.createDataFrame(rows, SCHEMA)


def _sorted(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.select("id", "g", "v", "s").collect())


def _input(source_type: str, source: dict, tags: dict | None = None) -> TrainingInput:
    return TrainingInput("train", "d", source_type, json.dumps(source), None, tags or {})


def test_manifest_of_one_file_is_its_sha256_as_sha256_of_gives_it(spark, tmp_path):
    _frame(spark).coalesce(1).write.parquet(str(tmp_path / "one"))
    file = next((tmp_path / "one").glob("*.parquet"))
    entries = spark_manifest(spark, str(file.parent), [str(file)])
    assert manifest_digest(entries, single_file=True) == sha256_of(file)
    assert entries[0].sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    assert entries[0].size == file.stat().st_size


def test_folder_manifest_covers_every_file_and_the_streamed_hash_is_recomputable(spark, tmp_path):
    folder = tmp_path / "data"
    _frame(spark).repartition(2).write.partitionBy("g").parquet(str(folder))
    snapshot = parquet_snapshot(str(folder), "train")
    entries = spark_manifest(spark, snapshot.root, snapshot.files)
    assert {e.path.split("/")[0] for e in entries} == {"g=a", "g=b"}
    assert len(entries) == len(snapshot.files) >= 2
    assert all(e.sha256 == sha256_of(folder / e.path) for e in entries)
    digest = manifest_digest(entries)
    # One SHA-256 over every byte in order cannot be split across executors: the folder's
    # manifest digest is its own value, and the pandas engine's streamed hash is recomputed on
    # the driver only to compare with a hash that engine recorded.
    assert digest != sha256_of(folder)
    assert local_stream_sha256(snapshot.root, snapshot.files) == sha256_of(folder)
    (folder / "g=a" / entries[0].path.split("/")[-1]).write_bytes(b"changed")
    changed = spark_manifest(spark, snapshot.root, snapshot.files)
    assert manifest_digest(changed) != digest


def test_row_fingerprint_ignores_order_and_partitioning(spark):
    df = _frame(spark)
    shuffled = _frame(spark, list(reversed(ROWS))).repartition(3)
    assert row_fingerprint(df) == row_fingerprint(shuffled)
    assert len(row_fingerprint(df)) == 32


def test_row_fingerprint_sees_one_changed_value_a_moved_null_and_a_duplicate(spark):
    base = row_fingerprint(_frame(spark))
    one_value = [*ROWS[:3], (4, "b", 0.26, "x")]
    assert row_fingerprint(_frame(spark, one_value)) != base
    moved_null = [(1, "a", 1.5, "x"), (2, "b", None, "y"), (3, "a", None, "2.0"), ROWS[3]]
    assert row_fingerprint(_frame(spark, moved_null)) != base
    assert row_fingerprint(_frame(spark, [*ROWS, ROWS[0]])) != base


def test_partition_columns_come_back_as_columns_as_pandas_reads_them(spark, tmp_path):
    import pandas as pd

    folder = tmp_path / "parts"
    _frame(spark).write.partitionBy("g").parquet(str(folder))
    df = read_snapshot(spark, parquet_snapshot(str(folder), "train"))
    by_pandas = pd.read_parquet(folder)
    assert set(df.columns) == set(by_pandas.columns) == {"id", "g", "v", "s"}
    assert _sorted(df) == sorted(
        (int(r.id), str(r.g), None if pd.isna(r.v) else r.v, None if pd.isna(r.s) else r.s)
        for r in by_pandas.itertuples()
    )


def _two_versions(spark, path: Path) -> None:
    from deltalake import write_deltalake

    write_deltalake(str(path), _frame(spark).toArrow(), partition_by=["g"])
    write_deltalake(str(path), _frame(spark, [(9, "c", 9.0, "z")]).toArrow(), mode="overwrite")


def test_delta_is_read_at_the_recorded_version_after_a_later_one_was_written(spark, tmp_path):
    path = tmp_path / "delta"
    _two_versions(spark, path)
    old = read_snapshot(spark, delta_snapshot(str(path), 0, "train", delta_jars=False))
    assert _sorted(old) == sorted(ROWS, key=lambda r: r)
    assert old.columns == ["id", "g", "v", "s"]  # the table's order, partition column included
    new = read_snapshot(spark, delta_snapshot(str(path), 1, "train", delta_jars=False))
    assert _sorted(new) == [(9, "c", 9.0, "z")]


def test_a_delta_source_without_a_version_cannot_be_reproduced_unless_govern_recorded_it(
    spark, tmp_path
):
    path = tmp_path / "delta"
    _two_versions(spark, path)
    bare = _input("delta_table", {"path": str(path)})
    with pytest.raises(DataError, match=NO_DELTA_VERSION):
        resolve_snapshot(None, bare, tmp_path / "x")  # type: ignore[arg-type]
    tagged = _input("delta_table", {"path": str(path)}, {TAG_DELTA_VERSION: "0"})
    snapshot = resolve_snapshot(None, tagged, tmp_path / "x")  # type: ignore[arg-type]
    assert snapshot.delta_version == 0
    assert _sorted(read_snapshot(spark, snapshot)) == sorted(ROWS)
    # MLflow's `spark` source for a Delta path it did not recognise (a cloud path) is Delta too.
    spark_source = _input("spark", {"path": str(path)})
    with pytest.raises(DataError, match=NO_DELTA_VERSION):
        resolve_snapshot(None, spark_source, tmp_path / "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("configuration", "feature"),
    [
        ({"delta.enableDeletionVectors": "true"}, "deletion vectors"),
        ({"delta.columnMapping.mode": "name"}, "column mapping"),
    ],
)
def test_tables_the_file_list_cannot_read_exactly_are_refused(
    spark, tmp_path, configuration, feature
):
    from deltalake import write_deltalake

    path = tmp_path / "t"
    write_deltalake(str(path), _frame(spark).toArrow(), configuration=configuration)
    with pytest.raises(DataError) as err:
        delta_snapshot(str(path), 0, "train", delta_jars=False)
    assert f"cannot read Delta table {path}: it uses {feature}" in str(err.value)
    assert "only with the Delta jars" in str(err.value)


@pytest.mark.parametrize(
    ("source", "what"),
    [({"table_name": "db.train"}, "table 'db.train'"), ({"sql": "SELECT 1"}, "a SQL query")],
)
def test_a_table_or_query_with_no_snapshot_is_an_error_that_says_why(tmp_path, source, what):
    with pytest.raises(DataError) as err:
        resolve_snapshot(None, _input("spark", source), tmp_path)  # type: ignore[arg-type]
    assert f"logged from {what} with no snapshot" in str(err.value)
    assert "log a Delta table with its version, or a path" in str(err.value)
