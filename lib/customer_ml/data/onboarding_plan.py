"""`customer-ml init`, the plan: a source's profile turned into the overlay's decisions (the suite, the features)
and one summary line per decision. Pure: a hand-made SourceProfile tests every choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from customer_ml.data.onboarding_rules import (
    INTEGER_TYPES,
    VALUE_SET_LIMIT,
    ColumnStats,
    SourceProfile,
    role,
    shown,
    widened_range,
)

CSV_READING = (
    'read as text with a header; "" inside quotes is a quote (escape \'"\'); unquoted values trimmed, so a blank '
    "field reads as null; the casts type the columns"
)
GROUP_COMMENTS = {
    "table": "the table must not be empty",
    "id": "the id: a row without one, or sharing one, cannot be told apart (quarantined)",
    "label": "the label: only the values seen; any other would silently count as negative (quarantined)",
    "value_sets": (
        f"categories and codes (<= {VALUE_SET_LIMIT} values): a new value is recorded, not quarantined; the model "
        "has a bucket for unseen categories, and a customer must not drop out of scoring for one (warn)"
    ),
    "never_negative": (
        "never negative in the source: a negative amount or count is broken data (quarantined); delete the line of "
        "a column that can legitimately go below 0"
    ),
    "ranges": (
        "observed min..max widened by 10% of the range each side (not past 0 when the values never were): a value "
        "outside is recorded and the row kept, as new data may reach further (warn)"
    ),
}


@dataclass(frozen=True)
class Overlay:
    """The decisions, ready to render: values plus the comment that explains each."""

    name: str
    output: str
    profile: SourceProfile
    options: dict[str, Any]
    expectation_groups: list[tuple[str, list[dict[str, Any]]]]
    categorical: list[tuple[str, str]]
    exclude: list[tuple[str, str]]
    segment_include: list[str]
    summary: list[str]


def decide(profile: SourceProfile, *, name: str, output: str, options: dict[str, Any]) -> Overlay:
    """Every decision of the overlay from the profile.

    Args:
        profile: what the passes over the source found.
        name: the dataset's name (project.name, the source's name).
        output: the overlay's path as the user will pass it to --overlay.
        options: the reader options the source is read with.

    Returns:
        The overlay to render, with one summary line per decision.
    """
    roles = {c.name: role(c, profile.rows) for c in profile.columns if c.name not in (profile.id_column, profile.label)}
    categorical = [(column, reason) for column, (kind, reason) in roles.items() if kind in ("categorical", "code")]
    exclude = [(column, reason) for column, (kind, reason) in roles.items() if kind == "exclude"]
    segment_include = [column for column, (kind, _) in roles.items() if kind in ("numeric", "binary")]
    summary = [
        f"{profile.source}: {profile.fmt}, {profile.rows} rows, {len(profile.columns)} columns",
        *([CSV_READING] if profile.fmt == "csv" else []),
        *([f"fields separated by {options['sep']!r} (--sep to change)"] if "sep" in options else []),
        *(f"{old} -> {new}: renamed (Delta needs column mapping for {old!r})" for new, old in _renames(profile)),
        _id_line(profile),
        _label_line(profile),
        *(_column_line(profile, c, *roles[c.name]) for c in profile.columns if c.name in roles),
        _segmenter_line(segment_include, roles),
    ]
    return Overlay(
        name=name,
        output=output,
        profile=profile,
        options=options,
        expectation_groups=_expectations(profile, roles),
        categorical=categorical,
        exclude=exclude,
        segment_include=segment_include,
        summary=summary,
    )


def _expectations(profile: SourceProfile, roles: dict[str, tuple[str, str]]) -> list[tuple[str, list[dict[str, Any]]]]:
    key, label = profile.id_column, profile.column(profile.label)
    features = [c for c in profile.columns if c.name in roles]
    numeric = [c for c in features if roles[c.name][0] == "numeric" and c.minimum is not None]
    groups = {
        "table": [_expectation("expect_table_row_count_to_be_between", {"min_value": 1}, "error")],
        "id": [
            _expectation("expect_column_values_to_not_be_null", {"column": key}, "quarantine"),
            _expectation("expect_column_values_to_be_unique", {"column": key}, "quarantine"),
        ],
        "label": [_value_set(label, "quarantine")] if label.values is not None else [],
        "value_sets": [
            _value_set(c, "warn") for c in features if roles[c.name][0] in ("categorical", "code", "binary") and _few(c)
        ],
        "never_negative": [
            _expectation("expect_column_values_to_be_between", {"column": c.name, "min_value": 0}, "quarantine")
            for c in numeric
            if c.minimum >= 0
        ],
        "ranges": [_range(c) for c in numeric if c.maximum > c.minimum],
    }
    return [(GROUP_COMMENTS[group], rules) for group, rules in groups.items() if rules]


def _few(column: ColumnStats) -> bool:
    """True when the column's values are known and few enough for a value set."""
    return column.values is not None and len(column.values) <= VALUE_SET_LIMIT


def _expectation(name: str, kwargs: dict[str, Any], severity: str) -> dict[str, Any]:
    return {"expectation": name, "kwargs": kwargs, "severity": severity}


def _value_set(column: ColumnStats, severity: str) -> dict[str, Any]:
    kwargs = {"column": column.name, "value_set": list(column.values or ())}
    return _expectation("expect_column_values_to_be_in_set", kwargs, severity)


def _range(column: ColumnStats) -> dict[str, Any]:
    low, high = widened_range(column.minimum, column.maximum, column.type in INTEGER_TYPES)
    kwargs = {"column": column.name, "min_value": low, "max_value": high}
    return _expectation("expect_column_values_to_be_between", kwargs, "warn")


def _renames(profile: SourceProfile) -> list[tuple[str, str]]:
    return [(c.name, profile.renamed_from[c.name]) for c in profile.columns if c.name in profile.renamed_from]


def _typed(profile: SourceProfile, column: ColumnStats) -> str:
    """`name: type`, with the reading note when there is one."""
    note = profile.notes.get(column.name)
    return f"{column.name}: {column.type}" + (f" ({note})" if note else "")


def _id_line(profile: SourceProfile) -> str:
    column = profile.column(profile.id_column)
    filled = profile.rows - column.nulls
    counts = f"{profile.id_distinct} distinct of {profile.rows} rows"
    if column.nulls == 0 and profile.id_distinct == profile.rows:
        return f"{_typed(profile, column)} -> id ({counts})"
    return (
        f"{_typed(profile, column)} -> id, NOT unique ({counts}: {filled - profile.id_distinct} duplicated, "
        f"{column.nulls} null): the suite quarantines those rows; deduplicate the source to keep them"
    )


def _label_line(profile: SourceProfile) -> str:
    column = profile.column(profile.label)
    share = 100 * profile.positive_rows / profile.rows
    missing = f", {column.nulls} rows without a label" if column.nulls else ""
    return (
        f"label {column.name} ({column.type}): {share:.1f}% {shown(profile.positive)} of {profile.rows} rows{missing}"
    )


def _column_line(profile: SourceProfile, column: ColumnStats, kind: str, reason: str) -> str:
    typed = _typed(profile, column)
    distinct = column.count_distinct
    if kind == "exclude":
        return f"{typed} -> excluded from features ({reason})"
    if kind == "categorical":
        where = "value set in the suite (warn)" if _few(column) else f"no value set: > {VALUE_SET_LIMIT} values"
        return f"{typed} with {distinct} values -> categorical, {where}"
    if kind == "code":
        return f"{typed} with {distinct} values -> categorical (numeric code; move it to numeric if it is a count)"
    if kind == "binary":
        return f"{typed} with 2 values -> numeric (binary)"
    if column.minimum is None:
        return f"{typed} -> numeric"
    observed = f"{column.minimum:.12g}..{column.maximum:.12g}"
    checks = []
    if column.maximum > column.minimum:
        low, high = widened_range(column.minimum, column.maximum, column.type in INTEGER_TYPES)
        checks.append(f"{low:.12g}..{high:.12g} (warn)")
    if column.minimum >= 0:
        checks.append(">= 0 (quarantine)")
    non_finite = f", {column.non_finite} NaN/Infinity (validation.non_finite)" if column.non_finite else ""
    return f"{typed} {observed}{non_finite} -> numeric; suite: {', '.join(checks) or 'none'}"


def _segmenter_line(include: list[str], roles: dict[str, tuple[str, str]]) -> str:
    left_out = sorted(c for c, (kind, _) in roles.items() if kind in ("categorical", "code"))
    if not include:
        return "segmenter: no numeric columns to segment on; list behavioural columns in segmenter.features.include"
    return f"segmenter: the {len(include)} numeric columns ({', '.join(include)})" + (
        f"; categorical ones left out ({', '.join(left_out)})" if left_out else ""
    )
