"""Is this the data the model was trained on? Every proof that exists, compared.

Three proofs, strongest first:

- ``training-hash``: a full SHA-256 recorded at training time by ``govern.track``;
- ``pinned``: the full SHA-256 pinned by the version's first recorded audit (trust on first
  use, as SSH's known_hosts): every later audit must read the same bytes;
- ``mlflow-digest``: MLflow's digest, which covers only the first 10,000 rows of the number and
  all-text columns and keeps 8 hex characters.

MLflow's digest code can change between releases, so a digest that differs while a full hash
matches is a note, not a failure; a digest that differs with no full hash to compare cannot
tell "different data" from "different digest code", so it is an error ("cannot verify"), never
a fail and never a pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from govern.model.results import CheckResult, TrainingData

if TYPE_CHECKING:
    import pandas as pd

PROOFS = ("training-hash", "pinned", "mlflow-digest")
"""Proof levels, strongest first; the policy's ``integrity.require`` names the weakest accepted."""


def digest_columns(df: pd.DataFrame) -> tuple[str, ...]:
    """The columns MLflow's pandas digest hashes: numbers, and text columns whose every value
    is a string (``compute_pandas_digest``); booleans, categories, dates and text columns with a
    missing value are left out of it."""
    import numpy as np
    import pandas as pd

    numeric = set(df.select_dtypes(include=[np.number]).columns)
    return tuple(
        str(column)
        for column in df.columns
        if column in numeric or pd.api.types.infer_dtype(df[column], skipna=False) == "string"
    )


def proof_of(training: TrainingData, pin: Mapping[str, Any] | None, recorded: bool) -> str:
    """The strongest proof this audit has: a hash from training, else a pin (an earlier one, or
    the one this audit records), else only MLflow's digest (a first audit with --no-write)."""
    if training.logged_sha256:
        return "training-hash"
    if pin or (training.sha256 and recorded):
        return "pinned"
    return "mlflow-digest"


def _compared(
    id_: str, measured: str, recorded: str, same_text: str, differ_text: str
) -> CheckResult:
    same = measured == recorded
    return CheckResult(
        id_,
        "integrity",
        "pass" if same else "fail",
        same_text if same else differ_text,
        observed=measured,
        threshold=recorded,
    )


def integrity_checks(
    training: TrainingData,
    *,
    digest_applies: bool,
    prefix: str = "integrity",
    pin: Mapping[str, Any] | None = None,
    measured_at: str = "",
    recorded: bool = True,
    require: str = "pinned",
    digest_not_applicable: str | None = None,
) -> list[CheckResult]:
    """One check per proof that exists for the data as measured in ``training``.

    ``pin`` is the earliest recorded audit's hash (``sha256``, ``pinned_at``, ``audit_run_id``)
    or ``None`` when this audit is the first; ``recorded`` says whether this audit's hash will be
    recorded (not with ``--no-write``). ``require`` is the weakest proof the policy accepts.
    ``digest_not_applicable`` says why MLflow's digest cannot be recomputed by this engine (the
    Spark engine's data): the check says so and proves nothing, the full-hash proofs decide, and
    an audit left with only MLflow's digest as its proof is an error whatever ``require`` says.
    """
    e = training
    rows = e.rows or 0
    sha = e.sha256 or "(not computed)"
    checks: list[CheckResult] = []
    full_hash_matches: bool | None = None
    if e.logged_sha256:
        full_hash_matches = e.logged_sha256 == sha
        checks.append(
            _compared(
                f"{prefix}.sha256",
                sha,
                e.logged_sha256,
                "SHA-256 of the full data matches the one recorded at training",
                "SHA-256 of the full data differs from the one recorded at training: the data "
                "changed after the model was trained",
            )
        )
    if pin:
        same = pin.get("sha256") == sha
        full_hash_matches = same if full_hash_matches is None else full_hash_matches and same
        checks.append(
            _compared(
                f"{prefix}.pinned_sha256",
                sha,
                str(pin.get("sha256")),
                f"SHA-256 of the full data matches the one pinned by the first audit on "
                f"{pin.get('pinned_at')}",
                f"SHA-256 of the full data is {sha} on {measured_at}, but the first audit pinned "
                f"{pin.get('sha256')} on {pin.get('pinned_at')} (audit run "
                f"{pin.get('audit_run_id')}): the data changed after it was first audited",
            )
        )
    elif not e.logged_sha256:
        where = (
            "it is recorded with this audit; every later audit must match it"
            if recorded
            else "not recorded (--no-write): the next recorded audit pins it"
        )
        checks.append(
            CheckResult(
                f"{prefix}.pinned_sha256",
                "integrity",
                "pass",
                f"first audit of this data: its full SHA-256 {sha} is pinned now; {where}",
                observed=sha,
            )
        )
    if not digest_applies:
        checks.append(
            CheckResult(
                f"{prefix}.mlflow_digest",
                "integrity",
                "error",
                f"dataset '{e.name}' was not logged from a pandas DataFrame; govern "
                "cannot recompute its digest",
                observed=None,
                threshold=e.mlflow_digest,
            )
        )
    elif digest_not_applicable is not None:
        checks.append(
            CheckResult(
                f"{prefix}.mlflow_digest",
                "integrity",
                "pass",
                f"MLflow's digest is not applicable: {digest_not_applicable}; it proves nothing "
                "here, the full-hash proofs decide",
                observed=None,
                threshold=e.mlflow_digest,
                details={"not_applicable": digest_not_applicable},
            )
        )
    elif e.recomputed_digest is not None:
        checks.append(_digest_check(e, prefix, rows, full_hash_matches))
    proof = proof_of(e, pin, recorded)
    if proof == "mlflow-digest" and digest_not_applicable is not None:
        checks.append(
            CheckResult(
                f"{prefix}.proof",
                "integrity",
                "error",
                f"nothing proves '{e.name}' is the data the model was trained on: MLflow's "
                f"digest cannot be checked ({digest_not_applicable}), no full hash was recorded "
                "at training and none is pinned (--no-write); log the data with "
                "govern.track.log_training_data, or audit once without --no-write to pin it",
                observed=proof,
                threshold=require,
            )
        )
    elif PROOFS.index(proof) > PROOFS.index(require):
        checks.append(
            CheckResult(
                f"{prefix}.proof",
                "integrity",
                "error",
                f"the policy requires proof '{require}', and the strongest for '{e.name}' is "
                f"'{proof}': log the data with govern.track.log_training_data to record a full "
                "hash at training time",
                observed=proof,
                threshold=require,
            )
        )
    return checks


def _digest_check(
    e: TrainingData, prefix: str, rows: int, full_hash_matches: bool | None
) -> CheckResult:
    covered = ", ".join(e.digest_columns) or "no columns"
    scope = f"the first {min(rows, 10_000):,} of {rows:,} rows of {covered}"
    if e.recomputed_digest == e.mlflow_digest:
        return CheckResult(
            f"{prefix}.mlflow_digest",
            "integrity",
            "pass",
            f"MLflow digest {e.recomputed_digest} matches the logged one (it covers {scope})",
            observed=e.recomputed_digest,
            threshold=e.mlflow_digest,
            details={"columns": list(e.digest_columns)},
        )
    differs = (
        f"MLflow digest of the data is {e.recomputed_digest}, the run logged {e.mlflow_digest}"
    )
    if full_hash_matches is True:
        return CheckResult(
            f"{prefix}.mlflow_digest",
            "integrity",
            "pass",
            f"note: {differs}, but the full SHA-256 matches: MLflow's digest code changed, "
            "not the data",
            observed=e.recomputed_digest,
            threshold=e.mlflow_digest,
            details={
                "note": "digest differs, full hash matches",
                "columns": list(e.digest_columns),
            },
        )
    if full_hash_matches is False:
        return CheckResult(
            f"{prefix}.mlflow_digest",
            "integrity",
            "fail",
            f"{differs}: this is not the data the model was trained on",
            observed=e.recomputed_digest,
            threshold=e.mlflow_digest,
        )
    return CheckResult(
        f"{prefix}.mlflow_digest",
        "integrity",
        "error",
        f"cannot verify: {differs}, and no full hash was recorded to tell different data from "
        "a different MLflow digest",
        observed=e.recomputed_digest,
        threshold=e.mlflow_digest,
    )


def row_fingerprint_checks(
    training: TrainingData, *, prefix: str = "integrity", pin: Mapping[str, Any] | None = None
) -> list[CheckResult]:
    """The Spark engine's row fingerprint against the one recorded at training and the one
    pinned by the first Spark audit.

    The file hashes are the proof of the bytes; the fingerprint is of the rows as Spark decoded
    them. When the bytes are proved the same and the fingerprint differs, the reading changed
    (another Spark release inferring another type), not the data: a note, as for MLflow's
    digest. When nothing proves the bytes, a different fingerprint is a failure.
    """
    e = training
    measured = e.row_fingerprint
    if not measured:
        return []
    sha = e.sha256
    bytes_proved = bool(
        (e.logged_sha256 and e.logged_sha256 == sha) or (pin and pin.get("sha256") == sha)
    )
    checks: list[CheckResult] = []
    for recorded, where in (
        (e.logged_row_fingerprint, "recorded at training"),
        ((pin or {}).get("row_fingerprint"), "pinned by the first Spark audit"),
    ):
        if not recorded:
            continue
        suffix = "" if where.startswith("recorded") else "_pinned"
        if recorded == measured:
            status, text = "pass", f"row fingerprint {measured} matches the one {where}"
        elif bytes_proved:
            status = "pass"
            text = (
                f"note: row fingerprint {measured} differs from the one {where} ({recorded}), "
                "but the file hashes match: the rows were decoded differently (another Spark "
                "release or reader), the data did not change"
            )
        else:
            status = "fail"
            text = (
                f"row fingerprint {measured} differs from the one {where} ({recorded}): the "
                "rows are not the ones the model was trained on"
            )
        checks.append(
            CheckResult(
                f"{prefix}.row_fingerprint{suffix}",
                "integrity",
                status,  # type: ignore[arg-type]
                text,
                observed=measured,
                threshold=recorded,
            )
        )
    return checks
