"""Registry faults end in exit 4 (retry) with every version accounted for, and never in a pass."""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import uuid

import pytest
from helpers import (
    audit_json,
    govern_subprocess,
    log_slow_model,
    recorded,
    register,
    results_of,
    run_cli,
    write_policy,
)
from mlflow.tracking import MlflowClient
from servers import start_server, stop_server


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_server_down_at_start_is_exit_4_naming_the_uri(tmp_path):
    write_policy(tmp_path / "govern.yaml")
    port = _closed_port()
    result = run_cli("audit", "--all", "--tracking-uri", f"http://127.0.0.1:{port}")
    assert result.exit_code == 4
    assert f"127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


class _Handler(http.server.BaseHTTPRequestHandler):
    status = 503
    delay = 0.0

    def do_GET(self):  # noqa: N802
        time.sleep(self.delay)
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"upstream unavailable")

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_endpoint():
    """A plain HTTP server on 127.0.0.1 answering every request badly (5xx or slowly)."""
    servers = []

    def start(status: int = 503, delay: float = 0.0) -> str:
        handler = type("H", (_Handler,), {"status": status, "delay": delay})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}"

    yield start
    for httpd in servers:
        httpd.shutdown()


def test_server_answering_5xx_is_exit_4(tmp_path, fake_endpoint):
    uri = fake_endpoint(503)
    write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "audit",
        "--all",
        "--tracking-uri",
        uri,
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0"},
    )
    assert result.exit_code == 4, result.output
    assert "Traceback" not in result.output
    assert "503" in result.stderr or "unavailable" in result.stderr.lower()


def test_slow_server_is_bounded_by_the_http_timeout(tmp_path, fake_endpoint):
    uri = fake_endpoint(200, delay=30)
    result = run_cli(
        "scan",
        "--all",
        "--tracking-uri",
        uri,
        env={"MLFLOW_HTTP_REQUEST_TIMEOUT": "1", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert result.exit_code == 4
    assert "timed out" in result.stderr.lower() or "timeout" in result.stderr.lower()


def test_timeout_interrupts_a_hung_version_and_reports_it(sqlite_uri, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("slow")
    log_slow_model(
        sqlite_uri, name, adult.head(300), mitigated, tmp_path / "d" / "t.parquet", seconds=120
    )
    policy = write_policy(tmp_path / "govern.yaml")
    started = time.monotonic()

    result = run_cli(
        "audit",
        name,
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--timeout",
        "8",
        "--format",
        "json",
    )

    assert time.monotonic() - started < 100  # the 120 s predict was interrupted
    assert result.exit_code == 4, result.output
    data = results_of(result)
    assert data["error"] == {"kind": "retry"}
    version = data["versions"][0]
    assert version["verdict"] == "error"
    assert "--timeout of 8 s reached" in version["checks"][0]["summary"]
    tags = MlflowClient(sqlite_uri, sqlite_uri).get_model_version(name, "1").tags
    assert "govern.audit" not in tags  # interrupted before anything was recorded


@pytest.mark.slow
def test_server_killed_mid_audit_accounts_for_every_version(tmp_path, adult, trained):
    _, mitigated = trained
    root = tmp_path / "srv"
    root.mkdir()
    proc, uri = start_server(root)
    try:
        names = [_name(f"m{i}") for i in range(4)]
        for i, name in enumerate(names):
            register(
                uri,
                name,
                adult.head(400),
                mitigated,
                tmp_path / str(i) / "t.parquet",
                artifact=True,
            )
        policy = write_policy(
            tmp_path / "govern.yaml",
            """\
            version: 1
            models:
              - match: "*"
                packs: [baseline, four-fifths]
                label: income
                positive_label: ">50K"
                sensitive_features: [sex]
                fairness:
                  min_group_size: 10
            """,
        )
        out = tmp_path / "out"
        gov = govern_subprocess(
            "audit",
            "--all",
            "--policy",
            str(policy),
            "--tracking-uri",
            uri,
            "--out",
            str(out),
            cwd=tmp_path,
            env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"},
        )
        lines = []
        for line in gov.stderr:
            lines.append(line)
            if line.startswith("[1/4]") and "auditing" not in line:
                stop_server(proc, kill=True)  # the registry dies after the first version
                break
        rest = gov.stderr.read()
        gov.wait(timeout=300)
        stderr = "".join(lines) + rest
        assert gov.returncode == 4, stderr
        data = json.loads((out / "results.json").read_text())
        assert data["error"] == {"kind": "retry"}
        verdicts = {(v["model"], v["version"]): v["verdict"] for v in data["versions"]}
        assert set(verdicts) == {(n, "1") for n in names}  # every version accounted for
        first = data["versions"][0]
        assert first["verdict"] == "pass"
        assert all(v["verdict"] == "error" for v in data["versions"][1:])
        assert "not audited" in stderr
        # Restart on the same store: only the audit that really happened shows a pass.
        proc, uri = start_server(root)
        client = MlflowClient(uri, uri)
        statuses = {n: recorded(client.get_model_version(n, "1").tags).get("status") for n in names}
        first_name = first["model"]
        assert statuses.pop(first_name) == "pass"
        assert all(s != "pass" for s in statuses.values()), statuses
    finally:
        stop_server(proc, kill=True)


def test_credentials_in_the_tracking_uri_never_leak(server, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("secret")
    register(server, name, adult.head(400), mitigated, tmp_path / "d" / "t.parquet", artifact=True)
    secret = "hunter2-" + uuid.uuid4().hex
    uri = server.replace("http://", f"http://alice:{secret}@")
    policy = write_policy(tmp_path / "govern.yaml")
    out = tmp_path / "out"

    result = run_cli(
        "gate",
        f"{name}/1",
        "--policy",
        str(policy),
        "--tracking-uri",
        uri,
        "--out",
        str(out),
        "--format",
        "json",
        env={"MLFLOW_TRACKING_TOKEN": "tok-" + secret},
    )

    assert result.exit_code == 0, result.output  # the mitigated model passes on this sample
    assert secret not in result.output
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    data = results_of(result)
    assert data["tracking_uri"] == server.replace("http://", "http://***@")
    client = MlflowClient(server, server)
    tags = client.get_model_version(name, "1").tags
    assert all(secret not in v for v in tags.values())
    run = client.get_run(recorded(tags)["audit_run_id"])
    assert all(secret not in v for v in run.data.tags.values())
    for artifact in ("results.json", "report.html"):
        local = client.download_artifacts(run.info.run_id, artifact, str(tmp_path))
        assert secret not in open(local, encoding="utf-8").read()


def test_debug_traceback_is_scrubbed_too(tmp_path):
    secret = "pw-" + uuid.uuid4().hex
    write_policy(tmp_path / "govern.yaml")
    result = run_cli(
        "--debug",
        "scan",
        "--all",
        "--tracking-uri",
        f"http://bob:{secret}@127.0.0.1:{_closed_port()}",
        env={"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
    )
    assert result.exit_code == 4
    assert "Traceback" in result.stderr
    assert secret not in result.output


@pytest.mark.slow
def test_concurrent_gates_leave_the_alias_on_a_passing_version(server, tmp_path, adult, trained):
    _, mitigated = trained
    name = _name("race")
    for i in range(2):
        register(
            server, name, adult.head(600), mitigated, tmp_path / str(i) / "t.parquet", artifact=True
        )
    policy = write_policy(
        tmp_path / "govern.yaml",
        """\
        version: 1
        models:
          - match: "*"
            packs: [baseline, four-fifths]
            label: income
            positive_label: ">50K"
            sensitive_features: [sex]
        """,
    )
    procs = [
        govern_subprocess(
            "gate",
            f"{name}/{v}",
            "--promote-to",
            "production",
            "--policy",
            str(policy),
            "--tracking-uri",
            server,
            cwd=tmp_path,
        )
        for v in ("1", "2")
    ]
    outcomes = [(p, *p.communicate(timeout=300)) for p in procs]
    client = MlflowClient(server, server)
    final = client.get_model_version_by_alias(name, "production").version
    assert final in ("1", "2")
    for version, (proc, _out, err) in zip(("1", "2"), outcomes, strict=True):
        mv = client.get_model_version(name, version)
        assert recorded(mv.tags)["status"] == "pass", err
        run = client.get_run(recorded(mv.tags)["audit_run_id"])
        after = run.data.tags["govern.alias_after"]
        if after == version:
            assert proc.returncode == 0, err
            assert f"to version {version}" in err
        else:
            assert proc.returncode == 3, err
            assert "another promotion won" in err
        assert "govern.alias_before" in run.data.tags
    # the version the alias ended on passed: its own record says so
    assert recorded(client.get_model_version(name, final).tags)["status"] == "pass"


@pytest.mark.slow
def test_250_registered_models_are_all_accounted_for(sqlite_uri, tmp_path):
    client = MlflowClient(sqlite_uri, sqlite_uri)
    for i in range(250):
        model = f"bulk-{i:03d}"
        client.create_registered_model(model)
        client.create_model_version(model, source=str(tmp_path / "nowhere"), run_id=None)
    policy = write_policy(tmp_path / "govern.yaml")

    scan = run_cli("scan", "--all", "--tracking-uri", sqlite_uri, "--format", "json")
    assert scan.exit_code == 0, scan.output
    assert len(json.loads(scan.stdout)) == 250

    result = audit_json(sqlite_uri, "--all", policy)
    assert result.exit_code == 3
    data = results_of(result)
    assert len(data["versions"]) == 250
    assert {v["model"] for v in data["versions"]} == {f"bulk-{i:03d}" for i in range(250)}
    assert all(v["verdict"] == "error" for v in data["versions"])
    assert data["counts"] == {"pass": 0, "fail": 0, "error": 250}


def test_default_http_bounds_retry_twice_then_exit_4(tmp_path, monkeypatch):
    """With none of MLflow's own variables set, govern tries a failing request 1 + 2 times
    (MLFLOW_HTTP_REQUEST_MAX_RETRIES=2) and then gives up with the retry exit code."""
    for name in (
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
        "MLFLOW_HTTP_REQUEST_TIMEOUT",
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER",
    ):
        monkeypatch.delenv(name, raising=False)
    hits: list[str] = []

    class Counting(_Handler):
        def do_GET(self):  # noqa: N802
            hits.append(self.path)
            super().do_GET()

        do_POST = do_GET

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        result = run_cli("scan", "--all", "--tracking-uri", f"http://127.0.0.1:{httpd.server_port}")
    finally:
        httpd.shutdown()
    assert result.exit_code == 4, result.output
    assert len(hits) == 3, hits
    assert "503" in result.stderr or "errors" in result.stderr


def test_timeout_stops_worker_processes_too(sqlite_uri, tmp_path, adult, trained):
    """With --jobs 2 the parent and the worker are each stuck in a 120 s predict: both are
    interrupted at the deadline, every version is accounted for, and the run exits 4."""
    _, mitigated = trained
    names = [_name("slowjobs") for _ in range(2)]
    for name in names:
        log_slow_model(
            sqlite_uri, name, adult.head(300), mitigated, tmp_path / name / "t.parquet", seconds=120
        )
    policy = write_policy(tmp_path / "govern.yaml")
    started = time.monotonic()
    proc = govern_subprocess(
        "audit",
        "--all",
        "--policy",
        str(policy),
        "--tracking-uri",
        sqlite_uri,
        "--jobs",
        "2",
        "--timeout",
        "20",
        "--format",
        "json",
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=300)
    assert time.monotonic() - started < 100, err
    assert proc.returncode == 4, err
    data = json.loads(out)
    assert data["error"] == {"kind": "retry"}
    assert sorted(v["model"] for v in data["versions"]) == sorted(names)
    assert all(v["verdict"] == "error" for v in data["versions"])
    assert all("--timeout of 20 s reached" in v["checks"][0]["summary"] for v in data["versions"])
