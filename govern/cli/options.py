"""The options several commands share, and the bundle audit and gate receive as ``RunArgs``.

Choices are spelt out here rather than imported from the library so that ``--help`` imports no
renderer, sandbox or Spark; tests check that they agree.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from govern.cli.common import F, _outputs
from govern.errors import UsageError

if TYPE_CHECKING:
    from govern.registry.spark_session import SparkSettings
    from govern.render.outputs import OutputRequest

RUN_FORMATS = ["table", "json", "markdown"]
"""The values of ``govern.render.formats.OutputFormat``, spelt out so that ``--help`` imports no
renderer; a test checks the two agree."""
SCAN_FORMATS = ["table", "json"]
"""Likewise ``govern.render.formats.ScanFormat``."""
MODEL_ENV_MANAGERS = ["local", "virtualenv", "uv"]
"""Likewise ``govern.pipeline.sandbox.MODEL_ENV_MANAGERS``."""
ENGINES = ["auto", "pandas", "spark"]
"""Likewise ``govern.registry.spark_session.ENGINES``."""
SPARK_PREDICT = ["sandbox", "cluster"]
"""Likewise ``govern.registry.spark_session.PREDICT_MODES``."""


def tracking_option(fn: F) -> F:
    return click.option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        metavar="URI",
        help="MLflow tracking/registry URI. Default: $MLFLOW_TRACKING_URI, then MLflow's default "
        "(sqlite:///mlflow.db in the working directory).",
    )(fn)


def policy_option(fn: F) -> F:
    return click.option(
        "--policy",
        "policy_path",
        envvar="GOVERN_POLICY",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Policy file. Default: $GOVERN_POLICY, then ./govern.yaml.",
    )(fn)


def format_option(choices: list[str], help_text: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default="table",
        show_default=True,
        help=help_text,
    )


pdf_option = click.option(
    "--pdf",
    is_flag=True,
    help="Also print each version report to PDF beside its HTML (needs Chromium; with --out).",
)
paper_option = click.option(
    "--paper",
    type=click.Choice(["A4", "Letter"]),
    default="A4",
    show_default=True,
    help="Paper size for --pdf.",
)


waivers_option = click.option(
    "--waivers",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Waivers file (approved, expiring exceptions to failed checks). Overrides the "
    "policy's 'waivers' key.",
)


@dataclasses.dataclass(frozen=True)
class RunArgs:
    """The options audit and gate share, as one value (sqlite-utils' option bundles)."""

    policy_path: Path | None
    out: Path | None
    fmt: str
    junit: Path | None
    no_write: bool
    no_load_model: bool
    templates: Path | None
    pdf: bool
    paper: str
    timeout: float | None
    signing_key: Path | None
    model_env_manager: str
    waivers: Path | None
    engine: str
    spark_master: str | None
    spark_conf: tuple[str, ...]
    spark_predict: str
    tracking_uri: str | None

    def spark_settings(self) -> SparkSettings | None:
        """The Spark settings, checked before any work: a malformed --spark-conf, --engine
        spark without pyspark, or --spark-predict cluster on a local master, is a usage error
        (exit 2)."""
        from govern.registry.spark_session import require_pyspark, settings

        if self.engine == "spark":
            require_pyspark("--engine spark")
        elif self.engine == "pandas" and (
            self.spark_master or self.spark_conf or self.spark_predict != "sandbox"
        ):
            raise UsageError(
                "--spark-master, --spark-conf and --spark-predict need --engine spark or auto"
            )
        return settings(self.spark_master, self.spark_conf, predict=self.spark_predict)

    def outputs(self) -> OutputRequest:
        return _outputs(self.out, self.templates, self.junit, self.pdf, self.paper)

    def signing_key_path(self) -> str | None:
        """The key file, checked before any work so a bad key costs nothing (exit 2)."""
        if self.signing_key is None:
            return None
        from govern.attest.keys import load_signer

        load_signer(self.signing_key)
        return str(self.signing_key)


spark_predict_option = click.option(
    "--spark-predict",
    type=click.Choice(SPARK_PREDICT),
    default="sandbox",
    show_default=True,
    envvar="GOVERN_SPARK_PREDICT",
    help="Where the Spark engine runs the model for fairness. 'sandbox': a local Spark child "
    "without credentials (local masters only; on a cluster fairness is then an error check). "
    "'cluster': mlflow's spark_udf on the cluster's executors, which govern cannot scrub: the "
    "model can reach whatever they can (use a cluster with read access to the training data "
    "and nothing else); recorded in the results. Needs --spark-master spark://..., yarn, "
    "k8s://... or $SPARK_REMOTE (--spark-predict cluster with a local master is refused). "
    "Default: $GOVERN_SPARK_PREDICT, then sandbox.",
)


_RUN_ARG_NAMES = tuple(f.name for f in dataclasses.fields(RunArgs))


def run_options(fn: F) -> F:
    """Options shared by audit and gate; the command receives them as ``args: RunArgs``."""

    @functools.wraps(fn)
    def bundled(**kwargs: Any) -> Any:
        args = RunArgs(**{name: kwargs.pop(name) for name in _RUN_ARG_NAMES})
        return fn(args=args, **kwargs)

    wrapped: Any = tracking_option(bundled)
    for option in reversed(
        [
            policy_option,
            click.option(
                "--out",
                type=click.Path(path_type=Path),
                help="Write results.json, index.html and one HTML report per version here.",
            ),
            format_option(
                RUN_FORMATS, "What to print on stdout; markdown suits $GITHUB_STEP_SUMMARY."
            ),
            click.option(
                "--junit",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Also write JUnit XML: one test suite per version, one test case per check.",
            ),
            click.option(
                "--no-write",
                is_flag=True,
                help="Do not record the audit in MLflow or tag the version.",
            ),
            click.option(
                "--no-load-model",
                is_flag=True,
                help="Do not load the model (loading runs its code); fairness checks then "
                "report an error, which fails closed.",
            ),
            click.option(
                "--model-env-manager",
                type=click.Choice(MODEL_ENV_MANAGERS),
                default="local",
                show_default=True,
                envvar="GOVERN_MODEL_ENV_MANAGER",
                help="Where the model predicts. Always in a separate process that gets no "
                "credentials, signing key or tracking URI; 'local' uses govern's Python, "
                "'virtualenv' and 'uv' the model's own pinned environment as MLflow builds it "
                "(may download packages; kept in $GOVERN_MODEL_ENV_ROOT, default "
                "~/.cache/govern/model-envs). Not the policy key model_env, which compares the "
                "model's declared requirements with what is installed.",
            ),
            click.option(
                "--templates",
                type=click.Path(file_okay=False, exists=True, path_type=Path),
                help="Folder of Jinja2 templates overriding the packaged ones.",
            ),
            pdf_option,
            paper_option,
            click.option(
                "--timeout",
                type=click.FloatRange(min=1),
                metavar="SECONDS",
                help="Deadline for the whole run; versions not finished by then are errors.",
            ),
            click.option(
                "--signing-key",
                type=click.Path(dir_okay=False, path_type=Path),
                envvar="GOVERN_SIGNING_KEY",
                metavar="FILE",
                help="Ed25519 private key (from govern keygen) that signs each version's "
                "attestation; default $GOVERN_SIGNING_KEY. Without one, attestations are "
                "unsigned and marked so everywhere.",
            ),
            waivers_option,
            click.option(
                "--engine",
                type=click.Choice(ENGINES),
                default="auto",
                show_default=True,
                envvar="GOVERN_ENGINE",
                help="Where the training data is read and checked. 'auto': Spark for datasets "
                "logged with mlflow.data.from_spark (Spark and Delta sources), pandas for the "
                "rest; 'spark' also reads parquet folders and files on Spark "
                "(pip install 'govern[spark]').",
            ),
            click.option(
                "--spark-master",
                metavar="URL",
                help="Spark master for the Spark engine. Default: local[*]; $SPARK_REMOTE "
                "(sc://host:port) selects Spark Connect instead.",
            ),
            click.option(
                "--spark-conf",
                multiple=True,
                metavar="KEY=VALUE",
                help="Spark configuration, repeatable (--spark-conf spark.executor.memory=4g). "
                "govern never sets spark.jars.packages: nothing is downloaded at run time.",
            ),
            spark_predict_option,
        ]
    ):
        wrapped = option(wrapped)
    return wrapped


signing_key_option = click.option(
    "--signing-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GOVERN_SIGNING_KEY",
    metavar="FILE",
    help="Ed25519 private key (from govern keygen) that signs audits and incidents; default "
    "$GOVERN_SIGNING_KEY. Without one, records are unsigned and marked so everywhere.",
)
