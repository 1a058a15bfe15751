"""The production MLflow stack, for real: PostgreSQL, S3-compatible storage, ``mlflow server``.

- PostgreSQL: a throwaway cluster made with Debian's ``initdb``/``pg_ctl`` in a temporary folder,
  listening on 127.0.0.1 on a free port (its unix socket in the same folder), password auth.
  initdb refuses to run as root, so as root the server binaries run as the ``postgres`` user.
- S3: moto's server mode (``ThreadedMotoServer``) on 127.0.0.1, one bucket.
- ``mlflow server --backend-store-uri postgresql://...`` with proxied artifacts in the bucket
  (``stack``), and a second one whose clients write straight to S3 (``direct_stack``), both with
  the webhook settings govern serve needs (encryption key, http and private addresses allowed
  for the local receiver, a short webhook cache).

When PostgreSQL or moto is missing the tests skip with the reason, unless
``GOVERN_REQUIRE_INTEGRATION=1`` (``make test-integration`` sets it): then it is a failure.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from servers import _free_port, start_server, stop_server

STRICT = os.environ.get("GOVERN_REQUIRE_INTEGRATION") == "1"
BUCKET = "govern-integration"
# Test-only credentials for moto, which accepts any; never real ones.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "govern-test-access-key",
    "AWS_SECRET_ACCESS_KEY": "govern-test-secret-key-not-real",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def missing(reason: str) -> None:
    if STRICT:
        pytest.fail(f"{reason} (GOVERN_REQUIRE_INTEGRATION=1)")
    pytest.skip(reason)


def pg_bindir() -> Path | None:
    """Debian's PostgreSQL server binaries: ``pg_config --bindir``, else the newest
    /usr/lib/postgresql/*/bin (Debian keeps initdb and pg_ctl off the PATH)."""
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    for folder in candidates:
        path = Path(folder)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


@dataclass
class Postgres:
    root: Path
    port: int
    user: str
    password: str = field(repr=False)

    def uri(self, database: str) -> str:
        """A libpq URI, as psycopg2.connect takes it."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def sqlalchemy_uri(self, database: str) -> str:
        """MLflow's backend store URI. The driver is named: SQLAlchemy 2.1 maps a bare
        ``postgresql://`` to psycopg 3, and the test extra installs psycopg2-binary."""
        return self.uri(database).replace("postgresql://", "postgresql+psycopg2://", 1)

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(self.uri("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.sqlalchemy_uri(name)


def _as_server_user(cmd: list[str]) -> list[str]:
    """initdb and postgres refuse root: run them as ``postgres`` when the tests are root."""
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        missing("running as root, and runuser (to start PostgreSQL as 'postgres') is missing")
    return [str(runuser), "-u", "postgres", "--", *cmd]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster on 127.0.0.1, stopped and deleted on teardown."""
    bindir = pg_bindir()
    if bindir is None:
        missing("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        missing("psycopg2 is not installed (pip install -e '.[test]')")
    # Not under pytest's basetemp: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="govern-pg-"))
    if os.geteuid() == 0:
        import pwd

        pg = pwd.getpwnam("postgres")
        os.chown(root, pg.pw_uid, pg.pw_gid)
    os.chmod(root, 0o700)
    password = secrets.token_urlsafe(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        os.chown(pwfile, pg.pw_uid, pg.pw_gid)
    data, log, port = root / "data", root / "server.log", _free_port()
    run = {"capture_output": True, "text": True, "timeout": 120}
    init = subprocess.run(
        _as_server_user(
            [
                str(bindir / "initdb"),
                "-D", str(data), "-U", "govern", f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync",
            ]
        ),
        **run,
    )  # fmt: skip
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    pg_ctl = str(bindir / "pg_ctl")
    start = subprocess.run(
        _as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]),
        **run,
    )
    try:
        if start.returncode != 0:
            text = log.read_text() if log.is_file() else ""
            raise RuntimeError(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{text}")
        yield Postgres(root=root, port=port, user="govern", password=password)
    finally:
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), **run)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class S3:
    endpoint: str
    bucket: str

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key under ``prefix``, across pages."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [obj["Key"] for page in pages for obj in page.get("Contents", [])]

    @property
    def env(self) -> dict[str, str]:
        return {**S3_ENV, "MLFLOW_S3_ENDPOINT_URL": self.endpoint}


@pytest.fixture(scope="session")
def s3() -> Iterator[S3]:
    """moto's S3 in server mode on 127.0.0.1, with one bucket."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        missing("moto[server] is not installed (pip install -e '.[test]')")
    try:
        import boto3  # noqa: F401
    except ImportError:
        missing("boto3 is not installed (pip install -e '.[test]')")
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    store = S3(endpoint=f"http://127.0.0.1:{port}", bucket=BUCKET)
    try:
        store.client().create_bucket(Bucket=BUCKET)
        yield store
    finally:
        server.stop()


@dataclass
class Stack:
    uri: str
    """The tracking server's URL: the only address govern is given."""
    backend: str = field(repr=False)
    """The PostgreSQL URI the server uses (with its password)."""
    s3: S3
    prefix: str
    """Where in the bucket this server's artifacts go."""
    webhook_key: str = field(repr=False)


def _webhook_env() -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": Fernet.generate_key().decode(),
        # govern serve listens on 127.0.0.1 over http in the tests; production keeps https and
        # public-address checks unless govern serve sits on the private network.
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
        # MLflow caches the webhook list per event for 60 s by default: a webhook installed
        # after an event fired would not be called for a minute.
        "MLFLOW_WEBHOOK_CACHE_TTL": "1",
    }


def _start_stack(
    tmp_path_factory: Any, postgres: Postgres, s3: S3, database: str, artifact_args: list[str]
) -> Iterator[tuple[Any, str, dict[str, str]]]:
    backend = postgres.create_database(database)
    env = {**s3.env, **_webhook_env()}
    proc, uri = start_server(
        tmp_path_factory.mktemp(f"mlflow-{database}"),
        env=env,
        backend_store_uri=backend,
        artifact_args=artifact_args,
    )
    try:
        yield proc, backend, env
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def stack(tmp_path_factory, postgres, s3) -> Iterator[Stack]:
    """``mlflow server`` on PostgreSQL, artifacts proxied by the server into the S3 bucket:
    clients hold no S3 credentials."""
    prefix = "proxied"
    args = ["--artifacts-destination", f"s3://{s3.bucket}/{prefix}"]
    gen = _start_stack(tmp_path_factory, postgres, s3, "mlflow_proxied", args)
    proc, backend, env = next(gen)
    port = proc.args[proc.args.index("--port") + 1]
    try:
        yield Stack(
            uri=f"http://127.0.0.1:{port}",
            backend=backend,
            s3=s3,
            prefix=prefix,
            webhook_key=env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"],
        )
    finally:
        next(gen, None)


@pytest.fixture(scope="session")
def direct_stack(tmp_path_factory, postgres, s3) -> Iterator[Stack]:
    """``mlflow server`` on PostgreSQL whose clients write artifacts straight to S3
    (``--default-artifact-root s3://... --no-serve-artifacts``): they need S3 credentials."""
    prefix = "direct"
    args = ["--default-artifact-root", f"s3://{s3.bucket}/{prefix}", "--no-serve-artifacts"]
    gen = _start_stack(tmp_path_factory, postgres, s3, "mlflow_direct", args)
    proc, backend, env = next(gen)
    port = proc.args[proc.args.index("--port") + 1]
    try:
        yield Stack(
            uri=f"http://127.0.0.1:{port}",
            backend=backend,
            s3=s3,
            prefix=prefix,
            webhook_key=env["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"],
        )
    finally:
        next(gen, None)
