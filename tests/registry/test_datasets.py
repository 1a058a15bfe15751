"""Hashing the data: every byte of every file, and no two different folders alike."""

from __future__ import annotations

import hashlib
from pathlib import Path

from govern.registry.datasets import sha256_of


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_a_file_hashes_as_sha256sum_does(tmp_path: Path) -> None:
    file = tmp_path / "train.parquet"
    file.write_bytes(b"PAR1 some bytes")
    assert sha256_of(file) == hashlib.sha256(b"PAR1 some bytes").hexdigest()


def test_file_boundaries_and_names_are_part_of_a_folder_hash(tmp_path: Path) -> None:
    """Unframed, {a: "X" + "b\\0" + "Y"} and {a: "X", b: "Y"} would be the same byte stream."""
    joined = _folder(tmp_path / "one", {"a": b"X" + b"b\0" + b"Y"})
    split = _folder(tmp_path / "two", {"a": b"X", "b": b"Y"})
    assert sha256_of(joined) != sha256_of(split)
    renamed = _folder(tmp_path / "three", {"c": b"X", "b": b"Y"})
    assert sha256_of(renamed) != sha256_of(split)
    moved = _folder(tmp_path / "four", {"a": b"", "b": b"XY"})
    assert sha256_of(moved) != sha256_of(split)


def test_a_folder_hash_is_stable_and_ignores_hidden_files(tmp_path: Path) -> None:
    files = {"part-0.parquet": b"0" * 10, "sub/part-1.parquet": b"1" * 10}
    first = _folder(tmp_path / "x", files)
    second = _folder(tmp_path / "y", files)
    assert sha256_of(first) == sha256_of(second)
    (second / ".crc").write_bytes(b"checksum noise")
    (second / "_SUCCESS").write_bytes(b"")
    assert sha256_of(first) == sha256_of(second)
    (second / "part-0.parquet").write_bytes(b"0" * 9 + b"!")
    assert sha256_of(first) != sha256_of(second)
