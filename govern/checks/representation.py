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
    total = len(df)
    sets: list[tuple[str, ...]] = [(s,) for s in present]
    if len(present) > 1:
        sets.append(tuple(present))
    out = []
    for features in sets:
        keys = pd.DataFrame({f: df[f].map(_text) for f in features})
        frame = keys.assign(_pos=positive.to_numpy() if positive is not None else False)
        grouped = frame.groupby(list(features), sort=True, dropna=False)["_pos"]
        counts = grouped.size()
        positives = grouped.sum()
        groups = []
        for key, count in counts.items():
            values = key if isinstance(key, tuple) else (key,)
            pos = int(positives[key]) if positive is not None else None
            groups.append(
                RepresentationGroup(
                    group=dict(zip(features, (str(v) for v in values), strict=True)),
                    count=int(count),
                    share=int(count) / total,
                    positives=pos,
                    positive_share=(pos / int(count)) if pos is not None and count else None,
                    below_min_group_size=int(count) < min_group_size,
                )
            )
        out.append(Representation(features, tuple(groups), min_group_size))
    return tuple(out)
