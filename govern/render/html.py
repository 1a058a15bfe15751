"""HTML reports and the output folder: the evidence a compliance reviewer reads, prints and signs.

Every page is rendered from the ``AuditRun`` alone, the same object ``results.json`` is written
from, so the page a reviewer signs and the file a machine reads cannot disagree.

Everything shown comes from the registry or the training data (model names, tags, descriptions,
column names, category values, expectation kwargs) and is treated as hostile: all templates are
autoescaped, no value is ever marked safe, no value is ever put in a URL, and the pages carry a
Content-Security-Policy that forbids scripts and any network access. Reports are opened from disk
years later, often offline, so they are self-contained: inline CSS, no JavaScript, no fonts or
images by URL; charts are SVG images carried in ``data:`` URIs (``govern.render.charts``).

The index is written once per sort order (``INDEX_SORTS``) and the column headers link between
the copies: a table a reviewer can sort without any script, that stays one plain table however
many versions a run has.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from govern.errors import OutputError
from govern.model.results import AuditRun, VersionResult
from govern.render.environment import make_environment
from govern.render.index import index_context
from govern.render.views import version_context

REPORT_TEMPLATE = "report.html.j2"
INDEX_TEMPLATE = "index.html.j2"
SURROGATES = re.compile("[\ud800-\udfff]")


def render_page(env: jinja2.Environment, name: str, context: Mapping[str, Any]) -> str:
    """Render one page, turning any template problem into one line the CLI can print."""
    try:
        text = env.get_template(name).render(context)
    except jinja2.TemplateNotFound as exc:
        raise OutputError(f"template {exc.name} not found") from exc
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or exc.name or name
        raise OutputError(f"template {where}, line {exc.lineno}: {exc.message}") from exc
    except (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError) as exc:
        # A user's template is code too; whatever it trips over is reported as one line.
        raise OutputError(f"cannot render {name}: {type(exc).__name__}: {exc}") from exc
    # A lone surrogate (possible in a name read from JSON) cannot be encoded as UTF-8.
    return SURROGATES.sub("\ufffd", text)


def render_version_report(
    result: VersionResult, run: AuditRun, *, templates: Path | None = None
) -> str:
    """The report of one version, the page a reviewer prints and signs.

    Takes the whole run because the policy, environment and tracking server belong to the run,
    and a signed page must name the exact policy it was judged against.
    """
    env = make_environment(templates)
    return render_page(env, REPORT_TEMPLATE, version_context(result, run))


def render_index(run: AuditRun, *, templates: Path | None = None, sort: str = "verdict") -> str:
    """The run's landing page: failures first so nobody has to scroll past passes to find them.

    ``sort`` picks one of the other pre-sorted copies (``INDEX_SORTS``) the headers link to.
    """
    env = make_environment(templates)
    return render_page(env, INDEX_TEMPLATE, index_context(run, sort))
