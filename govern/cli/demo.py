"""``govern demo``: a demo registry built from the bundled sample, then audited."""

from __future__ import annotations

from pathlib import Path

import click

from govern.cli.common import _out, _say, handle_errors


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("govern-demo"),
    show_default=True,
    help="Folder for the demo registry, data and reports.",
)
@handle_errors
def demo(out: Path) -> None:
    """Build a demo registry from the bundled UCI Adult sample and audit it.

    Trains two models on a sample of UCI Adult (census income) shipped with govern: one mitigated
    model that passes its policy and one that fails the four-fifths rule. Registers both in a
    sqlite registry in OUT, audits them, and prints the path of the report index.

    \b
    Example:
      govern demo --out /tmp/govern-demo && open /tmp/govern-demo/reports/index.html
    """
    from govern.demo import run_demo

    index = run_demo(out, progress=_say)
    _out(str(index))
