"""The demo shows good practice: held-out fairness, and a passing model that never reads the
sensitive feature; one version passes and one fails, each for a true reason."""

from __future__ import annotations

import json
from pathlib import Path

from govern.demo import MODELS, run_demo


def test_demo_passes_and_fails_on_held_out_data_for_true_reasons(tmp_path: Path) -> None:
    index = run_demo(tmp_path / "demo")
    data = json.loads((index.parent / "results.json").read_text())
    by_model = {v["model"]: v for v in data["versions"]}
    plain, mitigated = by_model[MODELS[0]], by_model[MODELS[1]]

    for version in (plain, mitigated):
        fairness = version["fairness"]
        assert fairness["data"]["in_sample"] is False
        assert fairness["data"]["context"] == "evaluation"
        assert fairness["rows"] == version["evaluation_data"]["rows"] == 1800
        assert version["training_data"]["rows"] == 4200
        assert version["training_data"]["proof"] == "training-hash"
        assert not [c for c in version["checks"] if c["status"] == "error"]

    assert mitigated["verdict"] == "pass"
    assert mitigated["fairness"]["disparities"]["demographic_parity_ratio"] >= 0.8
    # The mitigated model is given no sensitive feature: its input signature lacks it.
    assert "sex" not in mitigated["metadata"]["signature_inputs"]
    assert "age" in mitigated["metadata"]["signature_inputs"]

    assert plain["verdict"] == "fail"
    failing = [c["id"] for c in plain["checks"] if c["status"] == "fail"]
    assert failing == ["fairness.demographic_parity_ratio"]
    assert plain["fairness"]["disparities"]["demographic_parity_ratio"] < 0.5
