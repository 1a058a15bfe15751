"""The ``govern`` command line: parse options, call the library, map errors to exit codes.

The group is defined here and each concern's commands live in their own module (audit.py,
evidence.py, waivers.py, webhook.py, events.py, demo.py); shared helpers are in common.py and
options.py. Nothing heavy is imported at module level (mlflow, Great Expectations and fairlearn
each take seconds), so ``govern --help`` answers at once; commands import what they use.
"""

from __future__ import annotations

import click

from govern import __version__
from govern.cli.audit import _default_jobs, audit_cmd, gate_cmd, report_cmd, scan
from govern.cli.demo import demo
from govern.cli.events import reconcile_cmd, serve_cmd
from govern.cli.evidence import history_cmd, keygen_cmd, review_cmd, verify_cmd
from govern.cli.options import ENGINES, MODEL_ENV_MANAGERS, RUN_FORMATS, SCAN_FORMATS
from govern.cli.waivers import waivers_group
from govern.cli.webhook import webhook_group

__all__ = [
    "ENGINES",
    "MODEL_ENV_MANAGERS",
    "RUN_FORMATS",
    "SCAN_FORMATS",
    "_default_jobs",
    "main",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="govern")
@click.option("--debug", is_flag=True, envvar="GOVERN_DEBUG", help="Show tracebacks on errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Audit and gate MLflow model versions.

    For each model version govern follows MLflow's lineage to the training data, proves it is the
    data the model was trained on, reruns data-quality (Great Expectations) and fairness
    (fairlearn) checks from a policy file, writes HTML and JSON evidence, records the verdict in
    the registry, and moves an alias only when every check passed.

    \b
    Exit codes: 0 every version passed, 1 a policy violation,
                2 usage or policy error, 3 could not audit (lineage, data,
                model or internal error: fix, then rerun), 4 the registry
                was unreachable or the deadline passed (retry later).
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        import warnings

        # Library deprecation and schema hints are for developers, not for a CI log.
        warnings.filterwarnings("ignore")


main.add_command(scan)
main.add_command(audit_cmd)
main.add_command(gate_cmd)
main.add_command(report_cmd)
main.add_command(review_cmd)
main.add_command(keygen_cmd)
main.add_command(verify_cmd)
main.add_command(history_cmd)
main.add_command(demo)
main.add_command(waivers_group)
main.add_command(webhook_group)
main.add_command(serve_cmd)
main.add_command(reconcile_cmd)
