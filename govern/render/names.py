"""Where each output lives in an output folder: file names built only from safe characters.

Every name is derived from the model name and version with a hash, never taken from a
``results.json`` field, so an edited results file cannot point a link anywhere else.
"""

from __future__ import annotations

import hashlib
import re

from govern.model.results import VersionResult

REPORTS_DIR = "reports"
INDEX_NAME = "index.html"
RESULTS_NAME = "results.json"
SUMMARY_NAME = "summary.md"

_SLUG_MAX = 60
_VERSION_SLUG_MAX = 20
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9_-]+")


def _slug(text: str, limit: int, fallback: str) -> str:
    slug = _UNSAFE_CHARS.sub("-", text).strip("-")[:limit].strip("-")
    return slug or fallback


def report_filename(result: VersionResult) -> str:
    """The report's file name: readable, safe on every filesystem and unique per version.

    Model names are free text (spaces, slashes, ``..``, right-to-left scripts, emoji), so only
    ASCII letters, digits, ``-`` and ``_`` survive into the readable part; the hash of the exact
    name and version keeps two names that slug alike (``a b`` and ``a/b``, or two non-Latin
    names, or names differing only in case on a case-insensitive disk) in different files.
    """
    # surrogatepass: a lone surrogate in a name read from JSON must not crash the whole run
    key = f"{result.model}\0{result.version}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(key).hexdigest()[:8]
    model = _slug(result.model, _SLUG_MAX, "model")
    version = _slug(str(result.version), _VERSION_SLUG_MAX, "x")
    return f"{model}-v{version}-{digest}.html"


def report_href(result: VersionResult) -> str:
    """Where a version's report is, relative to the output folder.

    Built from report_filename only, never from ``result.report``: that field may come from a
    results.json someone edited, and an href must not carry user data.
    """
    return f"{REPORTS_DIR}/{report_filename(result)}"


ATTESTATIONS_DIR = "attestations"


def attestation_href(result: VersionResult) -> str:
    """Where a version's DSSE envelope is written, relative to the output folder: beside
    ``results.json``, named like its report, for tools that verify envelopes one by one."""
    stem = report_filename(result).removesuffix(".html")
    return f"{ATTESTATIONS_DIR}/{stem}.intoto.json"
