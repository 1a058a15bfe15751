"""The Jinja2 environment every page is rendered with, and the filters templates use.

Everything shown comes from the registry or the training data and is treated as hostile:
autoescaping is forced on for every template name, no value is ever marked safe, and text placed
inside ``<style>`` (the printed running head) is CSS-escaped by ``css_string``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2

from govern.errors import UsageError
from govern.model.wording import bound_text, fmt, pct
from govern.resources import templates_dir

_CSS_PLAIN = re.compile(r"[A-Za-z0-9 ]")


def css_string(value: Any, limit: int = 90) -> str:
    """Text for inside a CSS string literal in a ``<style>`` element (the printed page header).

    HTML escaping does not apply inside ``<style>``, so every character other than ASCII letters,
    digits and space is written as a CSS hex escape: nothing a model name holds can end the
    string, the rule or the element. The result contains only ``[A-Za-z0-9 \\]``.
    """
    text = " ".join(str(value).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    out = []
    for char in text:
        code = ord(char)
        if _CSS_PLAIN.fullmatch(char):
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF or code == 0:
            out.append("\\fffd ")
        else:
            out.append(f"\\{code:x} ")
    return "".join(out)


_BREAK_AFTER = re.compile(r"(?<=[_./])(?=.)")


def break_points(value: Any) -> list[str]:
    """Pieces of an identifier (``true_positive_rate``) that a template joins with ``<wbr>``.

    Metric and check names have no spaces; without a break opportunity after ``_`` or ``.`` a
    narrow printed column splits them at an arbitrary letter. Each piece is plain text and is
    escaped by the template like any other value.
    """
    return _BREAK_AFTER.split(str(value))


def _finalize(value: Any) -> Any:
    """Print ``None`` as a dash, not as the word "None", wherever a template forgets ``fmt``."""
    return "—" if value is None else value


# --------------------------------------------------------------------------- environment


def make_environment(templates: Path | None = None) -> jinja2.Environment:
    """Build the Jinja2 environment every page is rendered with.

    The user's folder comes first so an organisation can restyle or reword any page (or just
    ``_style.css.j2``) without copying the rest; the packaged templates stay behind it as the
    fallback. Autoescaping is forced on for every name, including ``.j2``, because a template
    that forgot it would turn a model name into script; ``StrictUndefined`` makes a typo in a
    template fail loudly instead of silently dropping evidence from a signed report.
    """
    loaders: list[jinja2.BaseLoader] = []
    if templates is not None:
        folder = Path(templates)
        if not folder.is_dir():
            raise UsageError(f"--templates {folder} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(folder)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "j2"),
            disabled_extensions=(),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["fmt"] = fmt
    env.filters["pct"] = pct
    env.filters["css_string"] = css_string
    env.filters["bound"] = bound_text
    env.filters["break_points"] = break_points
    return env
