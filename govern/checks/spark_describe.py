"""What a dataset is, measured on Spark where it lives: rows, columns, types, missing values,
label balance and representation, equal to what the pandas engine reports for the same data.

Only aggregates come back to the driver: one row of counts for the size and the missing values
(one job, whatever the number of columns), the label's value counts and one ``groupBy`` count
over the sensitive features. Small results come back through Arrow (``toArrow().to_pandas()``),
which converts values exactly as ``pandas.read_parquet`` does (a whole-number column with missing
values becomes float64, a boolean one object), so the pandas rules in ``labels.py`` and
``representation.py`` then run on the same values the pandas engine would have seen.

The positive label is decided by the one rule in ``labels.py``: the label's distinct values are
counted on Spark (a handful for a class label), the rule runs on them in Python, and the values it
accepts go back to Spark as an ``isin``. No second, Spark-flavoured copy of the rule exists to
disagree with the first.

pyspark is imported inside the functions (or for type checking only): ``govern --help`` and the
pandas engine never load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from govern.checks.labels import balance_from_counts, positive_mask
from govern.checks.representation import representation_from_cells
from govern.errors import DataError
from govern.model.results import Representation

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

MAX_LABEL_VALUES = 100_000
"""Distinct label values brought to the driver at most; a class label has a few. More is an error
rather than an unbounded collect."""

SPARK_TO_PANDAS: dict[str, str] = {
    "ByteType": "int8",
    "ShortType": "int16",
    "IntegerType": "int32",
    "LongType": "int64",
    "FloatType": "float32",
    "DoubleType": "float64",
    "BooleanType": "bool",
    "StringType": "str",
    "VarcharType": "str",
    "CharType": "str",
    "TimestampType": "datetime64[ns]",
    "TimestampNTZType": "datetime64[us]",
}
"""The pandas dtype name the pandas engine reports for a column of each Spark type, when it reads
the same parquet files (pandas 3, pyarrow). Whole numbers and booleans depend on the data: with a
missing value pyarrow turns them into ``float64`` and ``object`` (``WITH_MISSING``). Timestamps
are as Spark writes them (INT96, read by pyarrow as nanoseconds); dates, decimals, binary and
nested types are Python objects in pandas, so every type not listed here is ``object``. A pandas
``category`` column is a Spark string: pandas restores the category from its own parquet metadata,
which Spark ignores, so that one difference is known and documented rather than hidden."""

WITH_MISSING: dict[str, str] = {
    "int8": "float64",
    "int16": "float64",
    "int32": "float64",
    "int64": "float64",
    "bool": "object",
}
"""How pyarrow converts a column that has missing values (NaN needs a float; None an object)."""


def pandas_dtype(spark_type: Any, has_missing: bool) -> str:
    """The pandas dtype name of a Spark column (see ``SPARK_TO_PANDAS``)."""
    name = SPARK_TO_PANDAS.get(type(spark_type).__name__, "object")
    return WITH_MISSING.get(name, name) if has_missing else name


def column(name: str) -> Column:
    """A top-level column by its exact name: dots, spaces and backticks are not syntax here."""
    from pyspark.sql import functions as F

    return F.col("`" + name.replace("`", "``") + "`")


def small_frame(sdf: DataFrame) -> pd.DataFrame:
    """A small Spark result on the driver, converted as ``pandas.read_parquet`` converts."""
    return sdf.toArrow().to_pandas()


@dataclass(frozen=True)
class Description:
    """The dataset's shape, as the pandas engine's ``TrainingData`` reports it."""

    rows: int
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    """Column -> pandas dtype name (``SPARK_TO_PANDAS``)."""
    missing: dict[str, int]
    label_balance: dict[str, int] = field(default_factory=dict)
    """Rows per label value as text (``labels.label_balance``); empty without a label."""


@dataclass(frozen=True)
class LabelValues:
    """A column's distinct values with their row counts, counted on Spark."""

    values: pd.Series
    """The distinct values as pandas reads them (missing included)."""
    raw: list[Any]
    """The same values as Spark holds them, for an ``isin`` back on Spark."""
    counts: pd.Series
    """Rows per value, aligned with ``values``."""

    def missing(self) -> int:
        return int(self.counts[self.values.isna().to_numpy(dtype=bool)].sum())

    def present(self) -> pd.Series:
        return self.values[~self.values.isna()].reset_index(drop=True)


def value_counts(sdf: DataFrame, name: str, what: str = "label") -> LabelValues:
    """One ``groupBy`` count over a column, bounded by ``MAX_LABEL_VALUES``."""
    counted = sdf.groupBy(column(name).alias("_v")).count().limit(MAX_LABEL_VALUES + 1)
    table = counted.toArrow()
    if table.num_rows > MAX_LABEL_VALUES:
        raise DataError(
            f"{what} column '{name}' has more than {MAX_LABEL_VALUES:,} distinct values; "
            "a class label has a few"
        )
    frame = table.to_pandas()
    return LabelValues(
        values=frame["_v"],
        raw=table.column("_v").to_pylist(),
        counts=frame["count"].astype("int64"),
    )


def describe(sdf: DataFrame, label: str | None = None) -> Description:
    """Rows, columns, dtypes and missing values in one aggregation; the label's balance in one
    more ``groupBy`` when ``label`` is a column."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, FloatType

    fields = list(sdf.schema.fields)
    exprs = [F.count(F.lit(1)).alias("_rows")]
    for i, f in enumerate(fields):
        col = column(f.name)
        missing = col.isNull()
        if isinstance(f.dataType, FloatType | DoubleType):
            missing = missing | F.isnan(col)  # pandas counts NaN as missing too
        exprs.append(F.coalesce(F.sum(F.when(missing, 1).otherwise(0)), F.lit(0)).alias(f"_m{i}"))
    row = sdf.agg(*exprs).collect()[0]
    missing_counts = {f.name: int(row[f"_m{i}"]) for i, f in enumerate(fields)}
    dtypes = {f.name: pandas_dtype(f.dataType, missing_counts[f.name] > 0) for f in fields}
    balance: dict[str, int] = {}
    if label and label in sdf.columns:
        counted = value_counts(sdf, label)
        balance = balance_from_counts(counted.values, counted.counts)
    return Description(
        rows=int(row["_rows"]),
        columns=tuple(f.name for f in fields),
        dtypes=dtypes,
        missing=missing_counts,
        label_balance=balance,
    )


def positive_values(counted: LabelValues, positive_label: Any, what: str = "labels") -> list[Any]:
    """The Spark values that carry ``positive_label`` by ``labels.positive_mask``, decided on the
    distinct present values (missing values are never positive). Raises ``DataError`` where
    ``positive_mask`` would (a text positive label against numbers)."""
    present = ~counted.values.isna().to_numpy(dtype=bool)
    values = counted.values[present].reset_index(drop=True)
    raw = [r for r, keep in zip(counted.raw, present, strict=True) if keep]
    mask = positive_mask(values, positive_label, what)
    return [r for r, hit in zip(raw, mask, strict=True) if hit]


def is_positive(name: str, values: Sequence[Any]) -> Column:
    """A boolean column, never null: the row's ``name`` is one of ``values``."""
    from pyspark.sql import functions as F

    if not values:
        return F.lit(False)
    return F.coalesce(column(name).isin(list(values)), F.lit(False))


def describe_representation(
    sdf: DataFrame,
    sensitive: Sequence[str],
    label: str | None,
    positive_label: Any,
    min_group_size: int,
) -> tuple[Representation, ...]:
    """``representation.describe_representation`` from one ``groupBy`` count on Spark.

    Positive shares are shown when the label is a column, the positive label is known and the
    rule can read the label (as the pandas engine's ``positive_rows``); missing sensitive values
    are a ``(missing)`` group of their own.
    """
    present = [s for s in sensitive if s in sdf.columns]
    if not present:
        return ()
    hits: list[Any] | None = None
    if label and label in sdf.columns and positive_label is not None:
        try:
            hits = positive_values(value_counts(sdf, label), positive_label)
        except DataError:
            hits = None
    flag = is_positive(label, hits) if label and hits is not None else None
    keys = [column(s).alias(f"_s{i}") for i, s in enumerate(present)]
    from pyspark.sql import functions as F

    counted = sdf.groupBy(*keys, (flag if flag is not None else F.lit(False)).alias("_pos"))
    cells = small_frame(counted.count())
    cells = cells.rename(columns={"count": "_n"})
    return representation_from_cells(cells, present, hits is not None, min_group_size)
