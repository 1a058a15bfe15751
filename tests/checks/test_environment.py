"""Reading a model's declared pins and comparing releases."""

from __future__ import annotations

import pytest

from govern.checks.environment import compare, declared_versions, difference, environment_check


def test_only_exact_pins_are_read_and_names_are_normalised() -> None:
    text = (
        "mlflow==3.17.2\nScikit_Learn == 1.5.0  # trained here\ncloudpickle>=3\n"
        "-r other.txt\npandas[performance]==2.2.3; python_version >= '3.9'\n"
    )
    assert declared_versions(text) == {
        "mlflow": "3.17.2",
        "scikit-learn": "1.5.0",
        "pandas": "2.2.3",
    }


@pytest.mark.parametrize(
    ("declared", "installed", "expected"),
    [
        ("1.5.0", "1.5.0", None),
        ("1.5.0", "1.5.2", "patch"),
        ("1.5.0", "1.9.1", "minor"),
        ("1.5.0", "2.0.0", "major"),
        ("1.5", "1.5.0", None),
        ("1.5.0rc1", "1.5.0", None),
        ("abc", "1.0", "unknown"),
    ],
)
def test_difference(declared: str, installed: str, expected: str | None) -> None:
    assert difference(declared, installed) == expected


def test_only_the_flavor_library_decides_and_strict_fails() -> None:
    rows = compare(
        {"scikit-learn": "1.5.0", "pandas": "1.0.0"},
        {"scikit-learn": "1.9.1", "pandas": "3.1.1"}.get,
    )  # type: ignore[arg-type]
    assert environment_check(rows, ["scikit-learn"], strict=False).status == "pass"
    assert environment_check(rows, ["scikit-learn"], strict=True).status == "fail"
    only_pandas = environment_check(rows, ["cloudpickle"], strict=True)
    assert only_pandas.status == "pass"  # pandas differs, but it does not run the flavor
    assert {r["name"] for r in only_pandas.details["requirements"]} == {"scikit-learn", "pandas"}
