"""Static fairness charts for the report: one bar chart per group metric, as an SVG data URI.

Reports are opened from disk for years, printed in black and white and read by people who
cannot see colour, so each chart is a plain matplotlib SVG that needs nothing else: bars are
told apart by hatching, the acceptable range by a grey band *and* dashed edges, every bar carries
its value and row count as text, and each chart comes with alt text that lists every value.

The SVG goes into the page as ``<img src="data:image/svg+xml;base64,...">``: an SVG loaded as an
image can run no script and load nothing, whatever its text says, and the page's CSP already
allows ``img-src data:``. Group names come from the training data and are hostile: matplotlib
writes them as escaped ``<text>`` (``svg.fonttype = "none"``), maths parsing is switched off so a
``$`` cannot crash or reshape a label, and control characters are replaced before drawing.

matplotlib is imported inside the functions (``govern --help`` must not pay for it) and only the
object-oriented ``Figure`` API is used, so no pyplot state or global backend is touched in a
process that also trains models.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import math
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from govern.model.results import FairnessResult, GroupMetrics, jsonable
from govern.model.specs import DISPARITIES

LABEL_MAX = 48
"""Characters of a group name drawn on a chart; the full name is in the table next to it."""
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
_DOCTYPE = re.compile(r"<!DOCTYPE[^>]*>\s*", re.IGNORECASE)
_METADATA = re.compile(r"\s*<metadata>.*?</metadata>", re.DOTALL)
_BAND_STYLES = ("--", ":", "-.")
_RC: dict[str, Any] = {
    "svg.fonttype": "none",  # text stays text: escaped by matplotlib, selectable, small
    "svg.hashsalt": "govern",  # same input, same bytes: a re-rendered report is identical
    "text.parse_math": False,  # "$" in a group name is a dollar sign, not TeX
    "text.usetex": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Liberation Sans"],
    "font.size": 9,
    "hatch.linewidth": 0.7,
    "axes.edgecolor": "black",
    "axes.linewidth": 0.8,
}


@dataclass(frozen=True)
class Band:
    """The range of one metric's group values that a disparity threshold accepts."""

    disparity: str
    low: float
    high: float
    text: str


@dataclass(frozen=True)
class Chart:
    """One metric's chart, ready for the template: every field is plain text."""

    metric: str
    src: str | None
    """``data:image/svg+xml;base64,...``; ``None`` when the chart could not be drawn."""
    alt: str
    caption: str
    bands: tuple[Band, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    error: str | None = None


def clean_text(text: str, limit: int = LABEL_MAX) -> str:
    """Text as drawn: one line, no control characters or lone surrogates, cut to ``limit``."""
    text = _CONTROL.sub("\ufffd", " ".join(str(text).split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def group_label(group: Mapping[str, str], limit: int = LABEL_MAX, *, bare: bool = False) -> str:
    """A group's name as drawn; ``bare`` drops the feature name when the axis already says it."""
    if bare and len(group) == 1:
        return clean_text(next(iter(group.values())), limit)
    return clean_text(", ".join(f"{feature}={value}" for feature, value in group.items()), limit)


def _num(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value:.3g}"


def _ci(group: GroupMetrics, metric: str) -> tuple[float, float] | None:
    """The group's interval for ``metric`` if one was computed (the field may be absent)."""
    intervals = getattr(group, "metrics_ci", None)
    if not isinstance(intervals, Mapping):
        return None
    ci = intervals.get(metric)
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    low, high = ci
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high)):
        return None
    return float(low), float(high)


def disparity_metrics(name: str) -> tuple[str, ...]:
    """The group metrics a disparity is computed from; read from its name when govern does not
    know it (a results.json from a newer govern), so its band is still drawn on the right chart."""
    if name in DISPARITIES:
        return DISPARITIES[name]
    for suffix in ("_ratio", "_difference"):
        if name.endswith(suffix):
            return (name.removesuffix(suffix),)
    return ()


def threshold_bands(
    metric: str, values: Sequence[float], thresholds: Mapping[str, Mapping[str, Any]]
) -> tuple[tuple[Band, ...], tuple[str, ...]]:
    """Where each group's value must lie for the disparities bounding ``metric`` to pass.

    fairlearn's between-groups ratio is lowest ÷ highest, so ``ratio >= r`` holds exactly when
    every group is within ``[r × highest, highest]``; the difference is highest − lowest, so
    ``difference <= d`` holds exactly when every group is within ``[highest − d, highest]``.
    Equalized odds takes the worst of TPR and FPR, so its bound applies to each of them. Other
    bound directions (a ratio capped from above) have no such per-group range and are named in
    a note instead of being drawn wrongly.
    """
    bands: list[Band] = []
    notes: list[str] = []
    if not values:
        return (), ()
    top = max(values)
    for name, bound in thresholds.items():
        if metric not in disparity_metrics(name) or not isinstance(bound, Mapping):
            continue
        low_bound, high_bound = bound.get("min"), bound.get("max")
        if name.endswith("_ratio") and isinstance(low_bound, int | float):
            low = float(low_bound) * top
            text = (
                f"{name} ≥ {low_bound:g}: every group within {_num(low)}–{_num(top)} "
                f"({low_bound:g} × highest)"
            )
            bands.append(Band(name, low, top, text))
        elif name.endswith("_difference") and isinstance(high_bound, int | float):
            low = max(0.0, top - float(high_bound))
            text = (
                f"{name} ≤ {high_bound:g}: every group within {_num(low)}–{_num(top)} "
                f"(highest − {high_bound:g})"
            )
            bands.append(Band(name, low, top, text))
        else:
            notes.append(f"{name} {dict(bound)} has no per-group range to draw")
    return tuple(bands), tuple(notes)


def _alt(
    metric: str, rows: Sequence[tuple[str, float | None, int, tuple[float, float] | None]]
) -> str:
    parts = []
    for label, value, count, ci in rows:
        shown = "undefined" if value is None else _num(value)
        if ci is not None:
            shown += f" (CI {_num(ci[0])}–{_num(ci[1])})"
        parts.append(f"{label}: {shown}, n={count}")
    return f"Bar chart of {metric} for {len(rows)} groups. " + "; ".join(parts) + "."


def _svg_data_uri(svg: str) -> str:
    svg = _DOCTYPE.sub("", svg)  # the DTD URL is a reference to something outside the page
    svg = _METADATA.sub("", svg)  # RDF metadata: more URLs, no information for a reviewer
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def metric_chart(
    fairness: FairnessResult,
    metric: str,
    thresholds: Mapping[str, Mapping[str, Any]] | None = None,
) -> Chart:
    """Draw one metric's bars by group, with its threshold bands and confidence intervals.

    Never raises: a chart that cannot be drawn becomes a ``Chart`` with ``error`` set, because
    a picture must never cost the reviewer the report (the table beside it has every number).
    """
    groups = list(fairness.groups)
    features = {tuple(g.group) for g in groups}
    bare = len(features) == 1 and len(next(iter(features))) == 1
    axis = clean_text(next(iter(features))[0]) if bare else "group"
    rows = [
        (group_label(g.group, bare=bare), _finite(g.metrics.get(metric)), g.count, _ci(g, metric))
        for g in groups
    ]
    defined = [v for _, v, _, _ in rows if v is not None]
    bands, notes = threshold_bands(metric, defined, thresholds or {})
    alt = _alt(metric, rows)
    if bands:
        alt += " Acceptable range: " + "; ".join(b.text for b in bands) + "."
    has_ci = any(ci is not None for _, _, _, ci in rows)
    caption = _caption(metric, fairness, bands, has_ci)
    try:
        with _matplotlib() as classes:
            svg = _plot(classes, metric, axis, groups, rows, bands, has_ci)
    except Exception as exc:  # matplotlib missing or a drawing bug: keep the report
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return Chart(metric, None, alt, caption, bands, notes, f"chart not drawn ({reason})")
    return Chart(metric, _svg_data_uri(svg), alt, caption, bands, notes)


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _caption(metric: str, fairness: FairnessResult, bands: Sequence[Band], has_ci: bool) -> str:
    text = (
        f"{metric} by group on {fairness.rows:,} rows; n = rows in the group. "
        "Hatched ///: group without flags; cross-hatched xx: flagged group (see Flags in the "
        f"Groups table: fewer than {fairness.min_group_size} rows, a missing sensitive value or "
        "a metric that is undefined for it)."
    )
    if bands:
        text += " Grey band between dashed lines: the range every group must fall in to meet " + (
            "; ".join(b.text for b in bands)
        )
        text += "."
    else:
        text += " No policy threshold applies to this metric."
    if has_ci:
        level = getattr(fairness, "ci_level", None)
        shown = f"{level:.0%} " if isinstance(level, int | float) else ""
        text += f" Whiskers: {shown}confidence intervals."
    return text


@contextlib.contextmanager
def _matplotlib() -> Iterator[tuple[Any, Any, Any]]:
    """matplotlib's figure, canvas and patch classes, imported here (so ``govern --help`` never
    pays for them), with its warnings and font-fallback messages kept out of the CLI's output."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    font_log = logging.getLogger("matplotlib.font_manager")
    level = font_log.level
    try:
        font_log.setLevel(logging.ERROR)  # "Glyph missing" for scripts DejaVu lacks: text stays
        with warnings.catch_warnings(), matplotlib.rc_context(cast(Any, _RC)):
            warnings.simplefilter("ignore")
            yield (Figure, FigureCanvasAgg, Patch)
    finally:
        font_log.setLevel(level)


def _plot(
    classes: tuple[Any, Any, Any],
    metric: str,
    axis: str,
    groups: Sequence[GroupMetrics],
    rows: Sequence[tuple[str, float | None, int, tuple[float, float] | None]],
    bands: Sequence[Band],
    has_ci: bool,
) -> str:
    figure_cls, canvas_cls, patch_cls = classes  # from _matplotlib, so matplotlib stays lazy
    n = len(rows)
    width, height = 7.5, 1.15 + 0.28 * max(n, 2)
    fig = figure_cls(figsize=(width, height))
    canvas_cls(fig)  # Agg measures the text; savefig then writes SVG
    ax = fig.add_subplot()
    positions = list(range(n))
    reach = [v for _, v, _, _ in rows if v is not None]
    reach += [x for *_, ci in rows if ci is not None for x in ci]
    reach += [b.high for b in bands]
    lowest, highest = min([0.0, *reach]), max([1.0, *reach])
    for i, band in enumerate(bands):
        style = _BAND_STYLES[i % len(_BAND_STYLES)]
        ax.axvspan(band.low, band.high, facecolor="0.88", edgecolor="none", zorder=0)
        for x in (band.low, band.high):
            ax.axvline(x, color="black", linestyle=style, linewidth=1.0, zorder=3)
    value_labels = []
    for pos, group, (_, value, count, ci) in zip(positions, groups, rows, strict=True):
        flagged = bool(group.flags) or value is None
        if value is not None:
            ax.barh(
                pos,
                value,
                height=0.62,
                color="white",
                edgecolor="black",
                linewidth=0.8,
                hatch="xx" if flagged else "///",
                zorder=2,
            )
            if ci is not None:
                ax.errorbar(
                    value,
                    pos,
                    xerr=[[max(0.0, value - ci[0])], [max(0.0, ci[1] - value)]],
                    fmt="none",
                    ecolor="black",
                    elinewidth=1.0,
                    capsize=3,
                    zorder=4,
                )
        shown = "undefined" if value is None else _num(value)
        if ci is not None:
            shown += f" [{_num(ci[0])}, {_num(ci[1])}]"
        outside = (
            value is not None
            and bands
            and any(value < b.low - 1e-12 or value > b.high + 1e-12 for b in bands)
        )
        label = f"{shown}  n={count:,}" + ("  ✗ outside" if outside else "")
        value_labels.append(
            ax.text(
                1.01,
                pos,
                label,
                transform=ax.get_yaxis_transform(),
                va="center",
                ha="left",
                fontsize=8,
                clip_on=False,
                parse_math=False,
            )
        )
    ax.set_yticks(positions, [r[0] for r in rows])
    for tick in ax.get_yticklabels():
        tick.set_parse_math(False)
    ax.set_ylim(n - 0.5, -0.5)  # first group on top, as in the table
    ax.set_xlim(lowest * 1.02, highest * 1.02)
    ax.set_xlabel(clean_text(metric, 80))
    ax.set_ylabel(axis)
    ax.grid(axis="x", color="0.75", linewidth=0.5, zorder=1)
    ax.set_axisbelow(True)
    handles = [
        patch_cls(facecolor="white", edgecolor="black", hatch="///", label="group"),
        patch_cls(facecolor="white", edgecolor="black", hatch="xx", label="flagged group"),
    ]
    if bands:
        handles.append(
            patch_cls(facecolor="0.88", edgecolor="black", linestyle="--", label="acceptable")
        )
    ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncols=len(handles),
        frameon=False,
        fontsize=8,
    )
    _fit_margins(fig, ax, value_labels, width, height)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


_MIN_PLOT_WIDTH = 3.5
"""Inches left for the bars whatever the labels need."""


def _fit_margins(
    fig: Any, ax: Any, value_labels: Sequence[Any], width: float, height: float
) -> None:
    """Size the margins from the measured text, not a guess: long (hostile) group names must
    neither be cut off nor squeeze the bars away, and the result must be the same every time."""
    # Text extents need only the renderer, not a full draw: half the cost of a chart.
    renderer = fig.canvas.get_renderer()
    dpi = fig.dpi
    ticks = [t.get_window_extent(renderer).width for t in ax.get_yticklabels()]
    label = ax.yaxis.label.get_window_extent(renderer).width
    values = [t.get_window_extent(renderer).width for t in value_labels]
    left = (max(ticks, default=0) + label) / dpi + 0.35
    right = max(values, default=0) / dpi + 0.25
    # Group names can be anything (and are cut to half the width); the value labels are numbers
    # and a count, so the figure grows to fit them whole rather than clip "✗ outside".
    left = min(left, width * 0.5)
    needed = left + right + _MIN_PLOT_WIDTH
    if needed > width:
        width = needed
        fig.set_size_inches(width, height)
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=0.6 / height,
        top=1 - 0.4 / height,
    )


_DRAWN: list[dict[str, tuple[Chart, ...]]] = []
"""Charts drawn inside ``reuse_drawings``, by the exact numbers they show."""


@contextlib.contextmanager
def reuse_drawings() -> Iterator[None]:
    """Draw each distinct chart once while this is active.

    A version's report is rendered twice when an audit is both recorded in MLflow and written to
    ``--out`` (a standalone copy for the registry, a copy within the run for the folder), and
    drawing is the costly part of both (0.2-0.3 s per chart with matplotlib). Inside this
    context the second copy reuses the first's drawings; outside it, nothing is kept.
    """
    _DRAWN.append({})
    try:
        yield
    finally:
        _DRAWN.pop()


def fairness_charts(
    fairness: FairnessResult, thresholds: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Chart]:
    """One chart per metric, in the order the metrics first appear in the groups."""
    if not _DRAWN:
        return _draw_all(fairness, thresholds)
    drawn = _DRAWN[-1]
    key = json.dumps([fairness.to_dict(), jsonable(thresholds or {})], sort_keys=True, default=repr)
    if key not in drawn:
        drawn[key] = tuple(_draw_all(fairness, thresholds))
    return list(drawn[key])


def _draw_all(
    fairness: FairnessResult, thresholds: Mapping[str, Mapping[str, Any]] | None
) -> list[Chart]:
    metrics: list[str] = []
    for group in fairness.groups:
        metrics.extend(m for m in group.metrics if m not in metrics)
    charts = []
    for metric in metrics:
        try:
            charts.append(metric_chart(fairness, metric, thresholds))
        except Exception as exc:  # odd values in a hand-edited results.json: keep the report
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
            charts.append(Chart(metric, None, "", "", error=f"chart not drawn ({reason})"))
    return charts
