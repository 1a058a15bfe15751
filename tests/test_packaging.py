"""The wheel carries its check packs, templates and demo data, and works outside the repo."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = dist.glob("govern-*.whl")
    return path


def test_wheel_contains_packs_templates_and_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pack in (REPO / "checks").glob("*.yaml"):
        assert f"govern/checks/{pack.name}" in names
    for template in (REPO / "templates").glob("*.j2"):
        assert f"govern/templates/{template.name}" in names
    assert "govern/data/adult-sample.csv.gz" in names
    assert any(n.endswith("entry_points.txt") for n in names)


@pytest.mark.slow
def test_installed_wheel_runs_the_demo_from_another_folder(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "MLFLOW_DISABLE_TELEMETRY": "true"}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import govern, govern.resources as r; print(govern.__file__); print(r.checks_dir()); "
            "print(r.templates_dir())",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    for line in probe.stdout.split():
        assert line.startswith(str(target)), probe.stdout
    demo = subprocess.run(
        [sys.executable, "-c", "from govern.cli import main; main()", "demo", "--out", "d"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    index = Path(demo.stdout.strip())
    assert index == elsewhere / "d" / "reports" / "index.html"
    assert index.is_file()
    assert "adult-income-plain" in index.read_text()
