"""Who is in the training data: group sizes and positive-label rates, before any model is run.

A reviewer needs this even when fairness checks cannot run (a model that does not load, a label
that is unusable): under-represented groups are a data-governance finding of their own
(EU AI Act Art. 10(3), "sufficiently representative").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from govern.model.results import Representation, RepresentationGroup

if TYPE_CHECKING:
    import pandas as pd

MISSING = "(missing)"


def _text(value: Any) -> str:
    try:
        import pandas as pd

        if pd.isna(value):
            return MISSING
    except (TypeError, ValueError):
        pass
    return str(value)


def describe_representation(
    df: pd.DataFrame,
    sensitive: Sequence[str],
    positive: pd.Series | None,
    min_group_size: int,
) -> tuple[Representation, ...]:
    """One table per sensitive feature, then one for their intersection when there are several.

    ``positive`` is a boolean Series (row carries the positive label) or ``None`` when the label
    cannot be read; missing sensitive values form their own ``(missing)`` group.
    """
    import pandas as pd

    present = [s for s in sensitive if s in df.columns]
    if not present or len(df) == 0:
        return ()
    cells = pd.DataFrame({f"_s{i}": df[s].reset_index(drop=True) for i, s in enumerate(present)})
    cells = cells.assign(_pos=positive.to_numpy() if positive is not None else False, _n=1)
    return representation_from_cells(cells, present, positive is not None, min_group_size)


def representation_from_cells(
    cells: pd.DataFrame,
    features: Sequence[str],
    has_positive: bool,
    min_group_size: int,
) -> tuple[Representation, ...]:
    """The tables from counted cells: what the pandas rows and a Spark ``groupBy`` share.

    ``cells`` holds the sensitive columns as ``_s0``, ``_s1``, ... in ``features`` order (raw
    values, as pandas reads them), ``_pos`` (the rows carry the positive label) and ``_n`` (how
    many rows); a pandas frame is its own cells with ``_n`` = 1. Values are grouped by their
    text, so two values that read the same are one group whichever engine counted them.
    """
    import pandas as pd

    present = list(features)
    total = int(cells["_n"].sum()) if len(cells) else 0
    if not present or total == 0:
        return ()
    sets: list[tuple[str, ...]] = [(s,) for s in present]
    if len(present) > 1:
        sets.append(tuple(present))
    weights = cells["_n"].to_numpy()
    hits = cells["_pos"].to_numpy(dtype=bool) * weights
    out = []
    for group_features in sets:
        names = [f"_k{j}" for j in range(len(group_features))]
        texts = [cells[f"_s{present.index(f)}"].map(_text) for f in group_features]
        keys = pd.DataFrame(dict(zip(names, texts, strict=True)))
        frame = keys.assign(_n=weights, _hits=hits)
        grouped = frame.groupby(names, sort=True, dropna=False)
        counts = grouped["_n"].sum()
        positives = grouped["_hits"].sum()
        groups = []
        for key, count in counts.items():
            values = key if isinstance(key, tuple) else (key,)
            pos = int(positives[key]) if has_positive else None
            groups.append(
                RepresentationGroup(
                    group=dict(zip(group_features, (str(v) for v in values), strict=True)),
                    count=int(count),
                    share=int(count) / total,
                    positives=pos,
                    positive_share=(pos / int(count)) if pos is not None and count else None,
                    below_min_group_size=int(count) < min_group_size,
                )
            )
        out.append(Representation(group_features, tuple(groups), min_group_size))
    return tuple(out)
