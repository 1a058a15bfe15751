"""Proof of the exact data on Spark: a SHA-256 manifest of the snapshot's files, hashed on the
executors, and an order-independent fingerprint of its rows, aggregated on Spark.

**The manifest.** One entry per data file: its path relative to the folder or table root, its
size and the SHA-256 of its bytes. Each executor hashes the files of its partition and returns
three short values per file, so the driver receives a few bytes per file, never the data. The
digest of the snapshot is ``SHA-256("govern-manifest-v1\\n" + RFC 8785 JSON of the entries
sorted by path)``: every byte of every file is covered (through its SHA-256), and the framing is
unambiguous (JSON with explicit sizes and names, one canonical encoding).

It is not ``sha256_of`` of the folder, and cannot be: ``sha256_of`` streams every byte of every
file through ONE SHA-256 in name order, and SHA-256 cannot be split across machines. For one
file the two agree exactly (the manifest's digest of a single file is that file's SHA-256, as
``sha256sum`` prints it), so a file pinned by either engine is proved by the other. For a folder
the engine that hashes it records its own digest; :func:`local_stream_sha256` recomputes the
streamed one on the driver (one serial read, constant memory) when a recorded hash made by the
pandas engine must be compared.

**The row fingerprint.** For each row Spark computes two 64-bit xxHash64 values over the row's
typed values, each column followed by its null flag (so ``(null, 1)`` and ``(1, null)`` differ);
the second hash uses a different salt (the column names) and the reverse column order. The
fingerprint is the two sums modulo 2^64. Addition is commutative and associative, so the
fingerprint does not depend on row order or partitioning; a sum, unlike XOR, counts duplicate
rows. It detects accidental change (one changed value changes a sum unless two 64-bit hashes
collide at once), but xxHash64 is not cryptographic: a deliberate collision can be built. It is a
check on what Spark *read* (types and values after decoding), next to the manifest, which is the
proof of the bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from govern.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MANIFEST_DOMAIN = b"govern-manifest-v1\n"
ROW_FINGERPRINT_SCHEME = "xxh64x2-sum-v1"
_CHUNK = 1 << 20
_UINT64 = 1 << 64


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    """Relative to the snapshot's root, with ``/`` separators."""
    size: int
    sha256: str


def manifest_digest(entries: Sequence[ManifestEntry], *, single_file: bool = False) -> str:
    """The snapshot's digest; when the data is ``single_file`` (not a folder holding one file),
    that file's own SHA-256, as ``sha256sum`` and ``sha256_of`` give it."""
    import rfc8785

    if single_file:
        if len(entries) != 1:
            raise DataError(f"expected one file, found {len(entries)}")
        return entries[0].sha256
    ordered = sorted(entries, key=lambda e: e.path)
    canonical = rfc8785.dumps(
        [{"path": e.path, "sha256": e.sha256, "size": e.size} for e in ordered]
    )
    return hashlib.sha256(MANIFEST_DOMAIN + canonical).hexdigest()


def relative_to(root: str, uri: str) -> str:
    """``uri``'s path below ``root`` (both URIs or local paths), ``/``-separated."""
    base = urlsplit(root).path.rstrip("/") if "://" in root or root.startswith("file:") else root
    path = urlsplit(uri).path if "://" in uri or uri.startswith("file:") else uri
    base, path = unquote(base).rstrip("/"), unquote(path)
    if path.startswith(base + "/"):
        return path[len(base) + 1 :]
    return path.rsplit("/", 1)[-1]


def _hasher() -> Any:
    """The function the executors run: the size and SHA-256 of each file named in the batches.

    It is defined in a closure so that Spark ships it by value: an executor needs neither govern
    nor this module installed, only the standard library and pyarrow (which pyspark's Arrow path
    needs anyway). Local paths are opened directly; other URIs go through pyarrow's filesystems
    (s3, gs, hdfs, abfs), ``s3a://`` as ``s3://``; ``dbfs:/`` through the ``/dbfs`` mount.
    """

    def hash_partition(batches: Iterator[Any]) -> Iterator[Any]:
        import hashlib as _hashlib
        import os as _os
        from urllib.parse import unquote as _unquote
        from urllib.parse import urlsplit as _urlsplit

        import pyarrow as pa

        def open_uri(uri: str) -> Any:
            parts = _urlsplit(uri)
            if parts.scheme in ("", "file"):
                return open(_unquote(parts.path) if parts.scheme else uri, "rb")
            if parts.scheme == "dbfs":
                fuse = "/dbfs" + parts.path
                if _os.path.exists(fuse):
                    return open(fuse, "rb")
                raise OSError(f"{uri}: dbfs paths are read through the /dbfs mount, absent here")
            from pyarrow import fs

            scheme = "s3" if parts.scheme in ("s3a", "s3n") else parts.scheme
            filesystem, path = fs.FileSystem.from_uri(f"{scheme}://{parts.netloc}{parts.path}")
            return filesystem.open_input_stream(path)

        for batch in batches:
            paths, sizes, digests = [], [], []
            for uri in batch.column(0).to_pylist():
                digest = _hashlib.sha256()
                size = 0
                with open_uri(uri) as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        size += len(chunk)
                paths.append(uri)
                sizes.append(size)
                digests.append(digest.hexdigest())
            yield pa.RecordBatch.from_arrays(
                [pa.array(paths, pa.string()), pa.array(sizes, pa.int64()), pa.array(digests)],
                names=["uri", "size", "sha256"],
            )

    return hash_partition


def spark_manifest(spark: SparkSession, root: str, files: Sequence[str]) -> list[ManifestEntry]:
    """Hash ``files`` in parallel on the executors; one entry per file, sorted by path."""
    if not files:
        return []
    slices = max(1, min(len(files), _parallelism(spark)))
    paths = spark.createDataFrame([(f,) for f in files], "uri string").repartition(slices)
    try:
        rows = paths.mapInArrow(_hasher(), "uri string, size long, sha256 string").collect()
    except Exception as exc:
        raise DataError(f"cannot hash the files of {root} on the executors: {_short(exc)}") from exc
    entries = [
        ManifestEntry(relative_to(root, r["uri"]), int(r["size"]), r["sha256"]) for r in rows
    ]
    if len(entries) != len(files):
        raise DataError(f"{root}: hashed {len(entries)} of {len(files)} files")
    return sorted(entries, key=lambda e: e.path)


def _parallelism(spark: Any) -> int:
    try:
        return int(spark.sparkContext.defaultParallelism) * 2
    except Exception:  # Spark Connect: no SparkContext; let the cluster spread the rows
        return 64


def _short(exc: BaseException) -> str:
    """The first line of a (JVM-wrapped) error: the Python cause, not the Java stack."""
    text = str(exc).strip()
    for marker in ("OSError:", "FileNotFoundError:", "PermissionError:", "ArrowInvalid:"):
        if marker in text:
            text = text[text.index(marker) :]
            break
    return (text.splitlines() or [""])[0][:400]


def row_fingerprint(df: DataFrame) -> str:
    """Two sums of 64-bit row hashes, as 32 hex characters; see the module docstring."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    columns = list(df.columns)
    _UNHASHABLE = tuple(  # noqa: N806
        t for t in (T.MapType, getattr(T, "VariantType", None)) if t is not None
    )

    def hashable(name: str, dtype: Any) -> Any:
        col = F.col(f"`{name}`")
        if isinstance(dtype, _UNHASHABLE):  # xxhash64 refuses maps
            return F.to_json(col)
        return col

    typed = [hashable(f.name, f.dataType) for f in df.schema.fields]
    nulls = [F.col(f"`{c}`").isNull() for c in columns]
    first = [x for pair in zip(typed, nulls, strict=True) for x in pair]
    second = [F.lit(json.dumps(columns))] + [
        x for pair in zip(reversed(typed), reversed(nulls), strict=True) for x in pair
    ]
    offset = F.lit(str(1 << 63)).cast("decimal(20,0)")

    def unsigned_sum(parts: list[Any]) -> Any:
        # Decimal, not long: Spark 4 runs ANSI SQL, where a long sum that overflows raises.
        return F.sum(
            F.xxhash64(F.lit(ROW_FINGERPRINT_SCHEME), *parts).cast("decimal(20,0)") + offset
        )

    if not columns:
        return "0" * 32
    row = df.agg(unsigned_sum(first).alias("a"), unsigned_sum(second).alias("b")).collect()[0]
    a = int(row["a"] or 0) % _UINT64
    b = int(row["b"] or 0) % _UINT64
    return f"{a:016x}{b:016x}"


def local_stream_sha256(root: str, files: Sequence[str]) -> str | None:
    """``sha256_of`` of a local folder, recomputed on the driver (one serial read, constant
    memory) to compare with a hash the pandas engine recorded; ``None`` when not local."""
    from pathlib import Path

    from govern.registry.datasets import sha256_of

    parts = urlsplit(root)
    if parts.scheme not in ("", "file"):
        return None
    local = Path(unquote(parts.path) if parts.scheme else root)
    if not local.exists():
        return None
    listed = {os.path.realpath(unquote(urlsplit(f).path) if "://" in f else f) for f in files}
    on_disk = {
        os.path.realpath(p)
        for p in (local.rglob("*") if local.is_dir() else [local])
        if p.is_file() and not p.name.startswith((".", "_"))
    }
    if listed != on_disk:  # a Delta snapshot is a subset of its folder: not comparable
        return None
    return sha256_of(local)
