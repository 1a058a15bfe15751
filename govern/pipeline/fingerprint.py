"""Incremental reuse: an audit is a pure function of what it read, so an unchanged version can
get its last recorded result back instead of a recomputation.

The fingerprint names everything that decides the outcome; anything unexpected while looking up
the previous result means recomputing, never trusting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from govern import __version__
from govern.model.record import RecordError
from govern.model.results import AuditRun, VersionResult
from govern.registry.client import Registry, VersionInfo
from govern.registry.record import RUN_TAG_VERDICT, TAG_FINGERPRINT, read_record

LIBRARIES = ("great-expectations", "fairlearn", "mlflow", "pandas", "numpy", "scikit-learn")
SPARK_LIBRARIES = ("pyspark", "deltalake")
"""With the Spark engine these read, hash and count the data too."""
"""Libraries whose version can change a check's outcome whatever the model: GX's expectations,
fairlearn's metrics, MLflow's digest and model loading, pandas' parsing."""

FLAVOR_LIBRARIES = {
    "sklearn": "scikit-learn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
    "pytorch": "torch",
    "tensorflow": "tensorflow",
    "keras": "keras",
    "statsmodels": "statsmodels",
    "onnx": "onnxruntime",
    "h2o": "h2o",
    "spark": "pyspark",
    "prophet": "prophet",
    "transformers": "transformers",
    "sentence_transformers": "sentence-transformers",
    "python_function": "cloudpickle",
}
"""The library that loads and runs each MLflow model flavor: a model pickled under one release
and loaded under another can predict differently."""


def installed_version(dist: str) -> str:
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return "not installed"


def model_flavors(model_dir: Path | None) -> list[str]:
    """The flavors an MLflow model declares in its ``MLmodel`` file (``[]`` when unreadable)."""
    if model_dir is None:
        return []
    try:
        data = yaml.safe_load((model_dir / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    flavors = data.get("flavors") if isinstance(data, dict) else None
    return sorted(str(f) for f in flavors) if isinstance(flavors, dict) else []


def library_versions(model_dir: Path | None, engine: str = "pandas") -> dict[str, str]:
    """Installed versions of the libraries the outcome depends on, the model flavor's included."""
    names = list(LIBRARIES) + (list(SPARK_LIBRARIES) if engine == "spark" else [])
    names.extend(FLAVOR_LIBRARIES[f] for f in model_flavors(model_dir) if f in FLAVOR_LIBRARIES)
    return {name: installed_version(name) for name in sorted(set(names))}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def fingerprint(
    info: VersionInfo,
    *,
    model_sha256: str | None,
    data_sha256: str,
    policy_digest: str,
    libraries: Mapping[str, str],
    evaluation_sha256: str | None = None,
    recorded: Mapping[str, Any] | None = None,
    env_manager: str = "local",
    waivers: Mapping[str, Any] | None = None,
    engine: str = "pandas",
    spark_predict: str = "sandbox",
) -> str | None:
    """What an audit of this version is a pure function of; ``None`` if not fully known.

    Everything that can change an outcome is in it: the model files, the data, what the run
    recorded about the data (``recorded``: MLflow's digest, govern.track's tags), the policy
    with the content of every pack, the waivers (``waivers``: the file's SHA-256 and which
    waivers covering this version are in force), and the versions of govern and of the libraries
    that compute. Predicting in the model's own environment (``env_manager`` other than
    ``local``) may change the predictions, so it is in it too; ``local`` adds nothing, which keeps
    the fingerprints recorded before the option existed. So does where the Spark engine ran the
    model (``spark_predict``): a result predicted on a cluster's executors is never reused for a
    sandboxed run, nor the reverse (``sandbox`` adds nothing, as ``local`` does).
    """
    if not model_sha256:
        return None
    parts = {
        "model": info.model,
        "version": info.version,
        "model_sha256": model_sha256,
        "data_sha256": data_sha256,
        "evaluation_sha256": evaluation_sha256,
        "policy_digest": policy_digest,
        "govern_version": __version__,
        "libraries": dict(libraries),
        "recorded": dict(recorded or {}),
    }
    if env_manager != "local":
        parts["model_env_manager"] = env_manager
    if engine != "pandas":
        parts["engine"] = engine
    if engine == "spark" and spark_predict != "sandbox":
        parts["spark_predict"] = spark_predict
    if waivers is not None:  # absent rather than null: runs without waivers keep their prints
        parts["waivers"] = dict(waivers)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def reusable(registry: Registry, info: VersionInfo, current: str | None) -> VersionResult | None:
    """The last recorded result of this version, if its fingerprint equals ``current``.

    Errors are never reused (they are usually transient), and neither is a result whose version
    record, audit run and results.json do not all state the same verdict.
    """
    try:
        record = read_record(info.tags)
    except RecordError:
        return None
    if current is None or record is None:
        return None
    run_id = record.audit_run_id
    try:
        run = registry.client.get_run(run_id)
        if run.data.tags.get(TAG_FINGERPRINT) != current:
            return None
        if run.data.tags.get(RUN_TAG_VERDICT) not in ("pass", "fail"):
            return None
        if run.data.tags.get(RUN_TAG_VERDICT) != record.status:
            return None
        text = registry.client.download_artifacts(run_id, "results.json", None)
        with open(text, encoding="utf-8") as fh:
            previous = AuditRun.from_dict(json.load(fh))
    except Exception:
        return None
    for version in previous.versions:
        if (version.model, version.version) == (info.model, info.version):
            if version.verdict != run.data.tags.get(RUN_TAG_VERDICT):
                return None
            return replace(
                version,
                aliases=info.aliases,
                report=None,
                metadata={
                    **version.metadata,
                    "fingerprint": current,
                    "reused_from": {
                        "audit_run_id": run_id,
                        "audited_at": version.finished_at,
                        "rechecked_at": _now(),
                    },
                },
            )
    return None
