"""Is this the data the model was trained on? The digests recorded at training, compared.

Two proofs exist today: MLflow's digest (first 10,000 rows, 8 hex characters, recomputed with
MLflow's own code) and the full-data SHA-256 that ``govern.track`` records at training time. Any
mismatch fails the version; a digest that cannot be recomputed is an error, never a pass.
"""

from __future__ import annotations

from govern.model.results import CheckResult, TrainingData


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
    training: TrainingData, *, digest_applies: bool, prefix: str = "integrity"
) -> list[CheckResult]:
    """One check per proof that exists for the data as measured in ``training``.

    ``digest_applies`` says whether the dataset was logged from a pandas DataFrame (MLflow's
    pandas digest); the caller adds the error when that digest failed to recompute (it knows
    why).
    """
    e = training
    rows = e.rows or 0
    checks: list[CheckResult] = []
    partial = (
        f"; MLflow's digest covers only the first 10,000 of {rows:,} rows"
        if rows > 10_000 and not e.logged_sha256
        else ""
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
    elif e.recomputed_digest is not None:
        checks.append(
            _compared(
                f"{prefix}.mlflow_digest",
                e.recomputed_digest,
                e.mlflow_digest,
                f"MLflow digest {e.recomputed_digest} matches the logged one{partial}",
                f"MLflow digest of the data is {e.recomputed_digest}, the training run logged "
                f"{e.mlflow_digest}: this is not the data the model was trained on",
            )
        )
    if e.logged_sha256:
        checks.append(
            _compared(
                f"{prefix}.sha256",
                e.sha256 or "(not computed)",
                e.logged_sha256,
                "SHA-256 of the full data matches the one recorded at training",
                "SHA-256 of the full data differs from the one recorded at training: the data "
                "changed after the model was trained",
            )
        )
    return checks
