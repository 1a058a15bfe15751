"""Where the packaged check packs, templates and demo data live.

In a wheel, ``checks/`` and ``templates/`` are installed inside the package (``govern/checks``,
``govern/templates``); in a source checkout or an editable install they sit beside the package at
the top of the repository. Looking in both places keeps one layout for development and users, and
never depends on the working directory. In the wheel the YAML packs share ``govern/checks`` with
the Python engines that run them, so a folder counts only if it holds what is looked for.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str, pattern: str = "*") -> Path:
    """Return the folder holding a packaged resource (``checks`` or ``templates``): the first
    candidate with a file matching ``pattern``."""
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir() and any(candidate.glob(pattern)):
            return candidate
    raise FileNotFoundError(f"govern installation is missing its '{name}' folder")


def checks_dir() -> Path:
    return resource_dir("checks", "*.yaml")


def templates_dir() -> Path:
    return resource_dir("templates", "*.j2")


def adult_sample_path() -> Path:
    """The UCI Adult sample shipped for the demo and as an always-present real-data fixture."""
    return _PACKAGE_DIR / "data" / "adult-sample.csv.gz"
