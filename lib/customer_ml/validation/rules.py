"""Row-level rules from expectation kwargs, as Spark expressions, and the validated / quarantine split.

The split never collects GX's unexpected lists: each quarantine expectation becomes a Spark condition, so the
split is one pass and exact. Nulls pass value rules, as in GX (only not_null rules catch nulls).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_ml.errors import ValidationError
from customer_ml.settings import ExpectationSpec, SuiteSpec

VIOLATIONS = "_violations"
RUN_ID = "_validation_run_id"
_ROW_LEVEL = {
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_match_regex",
    "expect_column_values_to_be_unique",
}


# NaN and ±Infinity fail a between rule with the largest finite doubles as bounds (Spark orders NaN above +inf).
FINITE_BOUND = 1.7976931348623157e308


def generic_suite(key: str | None) -> SuiteSpec:
    """The checks of a table without a configured suite: at least one row, the key present and unique."""
    expectations = [
        ExpectationSpec(expectation="expect_table_row_count_to_be_between", kwargs={"min_value": 1}, severity="error")
    ]
    if key:
        expectations += [
            ExpectationSpec(expectation=name, kwargs={"column": key}, severity="quarantine")
            for name in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_unique")
        ]
    return SuiteSpec(key=key, expectations=expectations)


def without_absent_label(suite: SuiteSpec, frame: DataFrame, label: str | None) -> SuiteSpec:
    """The suite without its rules on the label column when `frame` has no such column: rows to score arrive
    before their outcome, and must pass the same checks as the training rows on every other column."""
    if label is None or label in frame.columns:
        return suite
    return suite.model_copy(
        update={
            "schema_": {c: t for c, t in suite.schema_.items() if c != label},
            "expectations": [e for e in suite.expectations if e.kwargs.get("column") != label],
        }
    )


def with_finite_checks(suite: SuiteSpec, frame: DataFrame, severity: str) -> SuiteSpec:
    """The suite plus a rule per float / double column of `frame` that fails NaN and ±Infinity (`severity`, or
    nothing when it is `off`). Integers and decimals cannot hold them."""
    if severity == "off":
        return suite
    floats = [f.name for f in frame.schema.fields if isinstance(f.dataType, (T.DoubleType, T.FloatType))]
    finite = [
        ExpectationSpec(
            expectation="expect_column_values_to_be_between",
            kwargs={"column": column, "min_value": -FINITE_BOUND, "max_value": FINITE_BOUND},
            severity=severity,
        )
        for column in floats
    ]
    return suite.model_copy(update={"expectations": [*suite.expectations, *finite]})


def rule_name(spec: ExpectationSpec) -> str:
    """How a rule is named in `_violations` and logs: expectation(column); the finite check is `finite(column)`."""
    column = spec.kwargs.get("column")
    if spec.kwargs.get("max_value") == FINITE_BOUND and spec.kwargs.get("min_value") == -FINITE_BOUND:
        return f"finite({column})"
    return f"{spec.expectation}({column})" if column else spec.expectation


def schema_differences(frame: DataFrame, suite: SuiteSpec) -> list[str]:
    """Required columns missing or of another Spark type than the suite's `schema` says."""
    actual = dict(frame.dtypes)
    problems = []
    for column, expected in suite.schema_.items():
        if column not in actual:
            problems.append(f"missing column {column} ({expected})")
        elif _normal_type(actual[column]) != _normal_type(expected):
            problems.append(f"column {column} is {actual[column]}, expected {expected}")
    return problems


def passes(spec: ExpectationSpec) -> Column:
    """The Spark condition a row meets when it satisfies a row-level expectation."""
    kwargs: dict[str, Any] = spec.kwargs
    name = spec.expectation
    if name not in _ROW_LEVEL:
        raise ValidationError(
            f"{name} cannot quarantine rows: it is not a row-level expectation; use severity error or warn, or one "
            f"of {', '.join(sorted(_ROW_LEVEL))}"
        )
    column = F.col(f"`{kwargs['column']}`")
    if name == "expect_column_values_to_not_be_null":
        return column.isNotNull()
    if name == "expect_column_values_to_be_null":
        return column.isNull()
    if name == "expect_column_values_to_be_unique":
        return column.isNull() | (F.count(F.lit(1)).over(Window.partitionBy(column)) == 1)
    if name == "expect_column_values_to_be_between":
        condition = F.lit(True)
        if kwargs.get("min_value") is not None:
            low = F.lit(kwargs["min_value"])
            condition = condition & (column > low if kwargs.get("strict_min") else column >= low)
        if kwargs.get("max_value") is not None:
            high = F.lit(kwargs["max_value"])
            condition = condition & (column < high if kwargs.get("strict_max") else column <= high)
        return column.isNull() | condition
    if name in ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set"):
        member = column.isin(list(kwargs["value_set"]))
        return column.isNull() | (member if name.endswith("be_in_set") else ~member)
    matches = column.rlike(kwargs["regex"])
    return column.isNull() | (matches if name == "expect_column_values_to_match_regex" else ~matches)


def split(frame: DataFrame, rules: Sequence[ExpectationSpec], run_id: str) -> tuple[DataFrame, DataFrame]:
    """(validated, quarantined): every input row lands in exactly one; quarantined rows list their violations."""
    broken = [F.when(~passes(rule), F.lit(rule_name(rule))) for rule in rules]
    joined = F.concat_ws(",", *broken) if broken else F.lit("")
    marked = frame.withColumn(
        VIOLATIONS, F.when(joined == "", F.array().cast("array<string>")).otherwise(F.split(joined, ","))
    )
    validated = marked.where(F.size(VIOLATIONS) == 0).drop(VIOLATIONS)
    quarantined = marked.where(F.size(VIOLATIONS) > 0).withColumn(RUN_ID, F.lit(run_id))
    return validated, quarantined


def _normal_type(spark_type: str) -> str:
    aliases = {"integer": "int", "long": "bigint", "short": "smallint", "byte": "tinyint", "float": "float"}
    return aliases.get(spark_type.lower(), spark_type.lower())
