"""`customer-ml init`, the rules: what a profile (plain data) says about each column: its type, its name in Delta,
its role as a feature, its range. Pure: no Spark, so every rule is tested on hand-made counts."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from customer_ml.errors import ConfigError

VALUE_SET_LIMIT = 20  # a column with at most this many values gets a value set in the suite
CODE_VALUES = (3, 12)  # an integer column with this many values looks like a code: categorical
ID_LIKE_SHARE = 0.9  # a text column whose distinct values are this share of its values identifies rows
RANGE_MARGIN = 0.1  # share of the observed range added on each side of a range expectation
DELTA_UNSAFE = frozenset(" ,;{}()\n\t=")  # characters Delta stores in a column name only with column mapping
INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
NUMERIC_TYPES = (*INTEGER_TYPES, "float", "double")


@dataclass(frozen=True)
class CastCounts:
    """Pass 1 over one text column: its non-null values, the blank ones (whitespace only), and how many of the
    other (filled) values have leading zeros or cast to each candidate type."""

    values: int = 0
    blank: int = 0
    leading_zero: int = 0
    as_int: int = 0
    as_bigint: int = 0
    as_double: int = 0
    as_boolean: int = 0
    as_date: int = 0


@dataclass(frozen=True)
class ColumnStats:
    """Passes 2 and 3 over one column, named and typed as the ingest writes it. `distinct` is approximate unless
    `values` (the exact sorted values, collected for columns with few) is set; min/max skip NaN and ±Infinity;
    `blank` counts whitespace-only text as read, before casts; `cast_failures` the values a cast turns to null."""

    name: str
    type: str
    nulls: int
    distinct: int | None
    minimum: float | None = None
    maximum: float | None = None
    non_finite: int = 0
    blank: int = 0
    cast_failures: int = 0
    values: tuple[Any, ...] | None = None

    @property
    def count_distinct(self) -> int:
        return len(self.values) if self.values is not None else self.distinct or 0


@dataclass(frozen=True)
class SourceProfile:
    """Everything init learnt about a source: columns in source order (renamed, typed), what reading did to them
    (`notes`), the id's uniqueness and the label's positive rows."""

    source: str
    fmt: str
    rows: int
    columns: tuple[ColumnStats, ...]
    id_column: str
    id_distinct: int
    label: str
    positive: Any
    positive_rows: int
    renamed_from: dict[str, str] = field(default_factory=dict)
    casts: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> ColumnStats:
        return next(c for c in self.columns if c.name == name)


def safe_identifier(text: str) -> str:
    """`text` as a lower-case identifier (letters, digits, _), e.g. "WA_Fn-UseC_-Telco" -> "wa_fn_usec_telco"."""
    name = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "dataset"
    return f"data_{name}" if name[0].isdigit() else name


def snake_case(name: str) -> str:
    """A column name in snake_case: "Total Charges" -> "total_charges", "MonthlyFee (USD)" -> "monthly_fee_usd"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^0-9A-Za-z]+", "_", spaced).strip("_").lower() or "column"


def delta_renames(columns: list[str]) -> dict[str, str]:
    """Renames for the names Delta cannot store without column mapping, to snake_case names not already taken."""
    taken = set(columns)
    renames = {}
    for column in columns:
        if not DELTA_UNSAFE & set(column):
            continue
        base = snake_case(column)
        new, suffix = base, 2
        while new in taken:
            new, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(new)
        renames[column] = new
    return renames


def infer_type(counts: CastCounts) -> tuple[str, str]:
    """The narrowest type every filled (non-blank) value casts to: int, bigint, double, boolean (true / false
    only), date (yyyy-MM-dd only), else string; and a note when something besides the values decided it."""
    filled = counts.values - counts.blank
    if filled == 0:
        return "string", "no values" if not counts.blank else "only blank values"
    numeric = [("int", counts.as_int), ("bigint", counts.as_bigint), ("double", counts.as_double)]
    if counts.leading_zero and any(castable == filled for _, castable in numeric):
        return "string", f"numbers kept as text: {counts.leading_zero} have leading zeros (codes, not amounts)"
    for spark_type, castable in [*numeric, ("boolean", counts.as_boolean), ("date", counts.as_date)]:
        if castable == filled:
            return spark_type, ""
    return "string", ""


def blank_note(blank: int, remaining: int, cast_dropped: bool) -> str:
    """What reading did with a column's `blank` values (whitespace only), `remaining` of them still blank (quoted
    blanks, which trimming leaves), when the column would be a number without them if `cast_dropped`."""
    notes = [f"{plural(blank - remaining, 'blank value')} read as null"] if blank > remaining else []
    if remaining:
        kept = "kept: ingest cannot cast them, so the column stays text" if cast_dropped else "kept as text"
        notes.append(f"{plural(remaining, 'quoted blank value')} {kept}")
    return "; ".join(notes)


def typed_positive(text: str, spark_type: str) -> Any:
    """`--positive` as a value of the label column's type, or None when it cannot be one."""
    if spark_type == "string":
        return text
    if spark_type in INTEGER_TYPES:
        return int(text) if re.fullmatch(r"[+-]?\d+", text.strip()) else None
    if spark_type in ("float", "double") or spark_type.startswith("decimal"):
        try:
            return float(text)
        except ValueError:
            return None
    if spark_type == "boolean" and text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    return None


def plural(count: int, noun: str) -> str:
    """`count` and the noun, plural unless one: 1 blank value, 11 blank values."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def shown(value: Any) -> str:
    """A value as a message shows it: strings in double quotes, numbers and booleans plain."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


def check_positive(profile: SourceProfile, positive_text: str) -> None:
    """Raise a one-line ConfigError when `--positive` does not occur in the label column."""
    if profile.positive_rows:
        return
    label = profile.column(profile.label)
    if label.values is not None:
        held = ", ".join(shown(v) for v in label.values) or "no values"
        found = f"holds {held}"
    else:
        found = f"holds no {shown(positive_text)} among its ~{label.distinct} distinct values"
    raise ConfigError(
        f"--positive {positive_text}: label column {profile.label} {found} (values compare exactly, case included)"
    )


def widened_range(low: float, high: float, integer: bool) -> tuple[float, float]:
    """[low, high] widened by RANGE_MARGIN of the range each side, not past 0 when the values never crossed it,
    then rounded outwards to 3 significant digits of the range (whole numbers for integer columns)."""
    span = high - low
    lower, upper = low - span * RANGE_MARGIN, high + span * RANGE_MARGIN
    lower = max(lower, 0.0) if low >= 0 else lower
    upper = min(upper, 0.0) if high <= 0 else upper
    exponent = math.floor(math.log10(span)) - 2
    exponent = max(exponent, 0) if integer else exponent
    step = 10.0**exponent
    lower = math.floor(round(lower / step, 9)) * step
    upper = math.ceil(round(upper / step, 9)) * step
    if exponent >= 0:
        return int(lower), int(upper)
    return round(lower, -exponent), round(upper, -exponent)


def role(column: ColumnStats, rows: int) -> tuple[str, str]:
    """(role, reason) of a column that is neither id nor label: categorical, code, binary, numeric or exclude."""
    filled = rows - column.nulls
    distinct = column.count_distinct
    if filled == 0:
        return "exclude", "all null"
    if distinct == 1:
        return "exclude", f"constant: one value ({shown(column.values[0]) if column.values else '?'})"
    if column.type == "string":
        if column.values is None and distinct > VALUE_SET_LIMIT and distinct >= ID_LIKE_SHARE * filled:
            return "exclude", f"id-like: ~{distinct} distinct of {filled} values"
        return "categorical", f"{distinct} values"
    if column.type in INTEGER_TYPES and column.values is not None:
        if distinct == 2:
            return "binary", f"2 values ({', '.join(shown(v) for v in column.values)})"
        if CODE_VALUES[0] <= distinct <= CODE_VALUES[1] and tuple(column.values) == tuple(range(distinct)):
            # 0, 1, …, k with none missing: how counts look (late payments, calls); their order matters
            count = f"0..{distinct - 1}, every value present: count-like, kept numeric (ordered); "
            return "numeric", count + "move to categorical if it is a code"
        if CODE_VALUES[0] <= distinct <= CODE_VALUES[1]:
            code = f"numeric code with {distinct} values: treated as categorical; "
            return "code", code + "move to numeric if it is a count"
    if column.type in (*NUMERIC_TYPES, "boolean") or column.type.startswith("decimal"):
        return "numeric", f"{distinct} values"
    return "exclude", f"type {column.type}: not a feature as is (derive a number from it in features.derived)"
