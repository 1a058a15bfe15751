"""The model's declared environment against the one it is audited in.

A model pickled under one scikit-learn and loaded under another can predict differently, and
MLflow only logs a warning about it. The versions a model declares (its ``requirements.txt``)
are compared with the installed ones and recorded; a major or minor difference in the library
that runs the model's flavor is a visible warning, and a failure under ``model_env: strict``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from govern.model.results import CheckResult

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;#,]+)")


def normalise(name: str) -> str:
    """PEP 503 name normalisation: ``Scikit_Learn`` and ``scikit-learn`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_versions(requirements: str) -> dict[str, str]:
    """Project -> the exact version a ``requirements.txt`` pins (``name==x``); other lines
    (ranges, URLs, options) pin nothing and are skipped."""
    pins: dict[str, str] = {}
    for line in requirements.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalise(match.group(1))] = match.group(2)
    return pins


def _release(version: str) -> tuple[int, ...]:
    parts = []
    for piece in re.split(r"[.+-]", version):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def difference(declared: str, installed: str) -> str | None:
    """``major``, ``minor`` or ``patch`` for the first release component that differs; ``None``
    when the releases are equal; ``unknown`` when either cannot be read or is not installed."""
    a, b = _release(declared), _release(installed)
    if not a or not b:
        return None if declared == installed else "unknown"
    a, b = (a + (0, 0, 0))[:3], (b + (0, 0, 0))[:3]
    for level, x, y in zip(("major", "minor", "patch"), a, b, strict=True):
        if x != y:
            return level
    return None


def compare(declared: Mapping[str, str], installed: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per declared pin: the project, the version the model declares, the one here."""
    rows = []
    for name, version in sorted(declared.items()):
        here = installed(name)
        rows.append(
            {
                "name": name,
                "declared": version,
                "installed": here,
                "difference": "not installed"
                if here == "not installed"
                else difference(version, here),
            }
        )
    return rows


def environment_check(
    rows: Iterable[Mapping[str, Any]], flavor_libraries: Iterable[str], *, strict: bool
) -> CheckResult:
    """The flavor's library must match in major and minor version, or the check warns (fails
    under ``strict``); every other difference is recorded in ``details`` for the reader."""
    flavor = {normalise(n) for n in flavor_libraries}
    rows = list(rows)
    serious = [
        r
        for r in rows
        if r["name"] in flavor and r["difference"] in ("major", "minor", "unknown", "not installed")
    ]
    details = {"requirements": rows, "flavor_libraries": sorted(flavor), "strict": strict}
    if not serious:
        checked = (
            ", ".join(f"{r['name']} {r['installed']}" for r in rows if r["name"] in flavor)
            or "no pinned flavor library"
        )
        return CheckResult(
            "model.environment",
            "lineage",
            "pass",
            f"the model's declared environment matches the one it runs in ({checked})",
            details=details,
        )
    said = "; ".join(
        f"{r['name']} {r['declared']} declared, {r['installed']} installed ({r['difference']})"
        for r in serious
    )
    if strict:
        return CheckResult(
            "model.environment",
            "lineage",
            "fail",
            f"the model runs in another environment than it declares: {said} (model_env: strict)",
            details=details,
        )
    return CheckResult(
        "model.environment",
        "lineage",
        "pass",
        f"warning: the model runs in another environment than it declares: {said}; its "
        "predictions may differ from those at training (model_env: strict makes this fail)",
        details={**details, "warning": True},
    )
