"""SQL over the lake: every configured table, and every Delta folder under a local lake root, as a view of its
name, plus named summary views.

    segment_summary   per score date and segment: customers, mean score, share predicted positive, candidates
    top_candidates    the latest score date's upgrade candidates, best first (scoring.top_candidates rows)

`customer-ml sql "SELECT …"` registers them all, runs the query and prints the rows (or writes CSV).
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from customer_ml.errors import CustomerMLError
from customer_ml.lake import register_views
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)


def summary_views(settings: Settings) -> dict[str, str]:
    """The named views, as SQL over the scoring tables (names from conf)."""
    scored, candidates = settings.scoring.scored_table, settings.scoring.candidates_table
    return {
        "segment_summary": f"""
            SELECT s.score_date, s.segment_id, s.segment_name,
                   count(*) AS customers,
                   round(avg(s.score), 4) AS mean_score,
                   round(avg(CAST(s.predicted_positive AS DOUBLE)), 4) AS share_predicted_positive,
                   coalesce(max(c.candidates), 0) AS candidates
            FROM {scored} s
            LEFT JOIN (SELECT score_date, segment_id, count(*) AS candidates FROM {candidates}
                       GROUP BY score_date, segment_id) c
              ON s.score_date = c.score_date AND s.segment_id <=> c.segment_id  -- null: scored without a segmenter
            GROUP BY s.score_date, s.segment_id, s.segment_name""",
        "top_candidates": f"""
            SELECT * FROM {candidates}
            WHERE score_date = (SELECT max(score_date) FROM {candidates})
            ORDER BY candidate_rank
            LIMIT {settings.scoring.top_candidates}""",
    }


def register(spark: SparkSession, settings: Settings, unreadable: list[str] | None = None) -> list[str]:
    """Register every existing lake table and, when the scoring tables exist, the summary views. Tables that do
    not read are skipped (with a warning) and added to `unreadable`."""
    names = register_views(spark, unreadable)
    if {settings.scoring.scored_table, settings.scoring.candidates_table} <= set(names):
        for name, query in summary_views(settings).items():
            spark.sql(query).createOrReplaceTempView(name)
            names.append(name)
    return names


# `sql` reads. What a statement does is decided from Spark's parsed plan, not from its words: the root may be one
# of the reading commands, or else every operator of the tree (CTE definitions and subqueries included) must be a
# query operator. Anything else (INSERT … DIRECTORY, CREATE TABLE … AS, DELETE, MERGE, CACHE, SET, a compound
# block, EXECUTE IMMEDIATE, an operator this list does not know yet) is refused before it runs.
READ_COMMANDS = frozenset(
    {
        "ShowTables", "ShowTablesExtended", "ShowViews", "ShowColumns", "ShowFunctions", "ShowCreateTable",
        "ShowTableProperties", "ShowPartitions", "ShowNamespaces", "ShowCatalogs",
        "DescribeRelation", "DescribeColumn", "DescribeFunction", "DescribeNamespace", "DescribeQueryCommand",
        "ExplainCommand",  # EXPLAIN plans its statement and never runs it
    }
)  # fmt: skip
QUERY_OPERATORS = frozenset(
    {
        "Aggregate", "Deduplicate", "Distinct", "Except", "Expand", "Filter", "Generate", "GlobalLimit", "Intersect",
        "Join", "LateralJoin", "LimitAll", "LocalLimit", "LocalRelation", "Offset", "OneRowRelation",
        "PipeOperator", "Pivot", "Project", "Range", "RelationTimeTravel", "Repartition", "RepartitionByExpression",
        "Sample", "Sort", "SubqueryAlias", "Tail", "Union", "Unpivot", "UnresolvedHaving", "UnresolvedHint",
        "UnresolvedInlineTable", "UnresolvedQualify", "UnresolvedRelation", "UnresolvedSubqueryColumnAliases",
        "UnresolvedTableValuedFunction", "UnresolvedTVFAliases", "UnresolvedWith", "Window", "WithCTE",
        "WithWindowDefinition", "CTERelationDef", "CTERelationRef", "UnionLoop", "UnionLoopRef",
        "CTE",  # UnresolvedWith, as EXPLAIN prints it
    }
)  # fmt: skip


UNPLANNABLE = "<an operator EXPLAIN cannot show>"


def statement_operators(spark: SparkSession, statement: str, *, via_explain: bool | None = None) -> list[str]:
    """The operators of the statement's parsed plan, root first. Through the JVM's parser on a classic session;
    through `EXPLAIN EXTENDED`'s parsed plan on Spark Connect (no JVM handle), which runs nothing either."""
    jvm_session = getattr(spark, "_jsparkSession", None)
    if via_explain or (via_explain is None and jvm_session is None):
        text = spark.sql(f"EXPLAIN EXTENDED {statement}").collect()[0][0]
        if "== Parsed Logical Plan ==" not in text:  # EXPLAIN reports an error instead of the plan
            return [UNPLANNABLE]
        parsed = text.split("== Parsed Logical Plan ==", 1)[1].split("== Analyzed Logical Plan ==", 1)[0]
        names = []
        for line in parsed.strip().splitlines():
            node = line.lstrip(" :+-|").lstrip("'")
            if node:
                names.append(re.split(r"[\s\[(]", node, maxsplit=1)[0])
        return names
    names = []

    def walk(plan: Any) -> None:
        names.append(plan.nodeName())
        if len(names) == 1 and names[0] in READ_COMMANDS:
            return
        for group in (plan.children(), plan.innerChildren()):
            for index in range(group.size()):
                child = group.apply(index)
                if hasattr(child, "nodeName") and hasattr(child, "innerChildren"):
                    walk(child)

    walk(jvm_session.sessionState().sqlParser().parsePlan(statement))  # type: ignore[union-attr]
    return names


def check_read_only(spark: SparkSession, statement: str, *, via_explain: bool | None = None) -> None:
    """Refuse, before it runs, a statement whose parsed plan is not a query, SHOW, DESCRIBE or EXPLAIN.

    Raises:
        CustomerMLError: one line naming the operator. A statement that does not parse passes through, so that
            Spark's own parse error reaches the user.
    """
    try:
        names = statement_operators(spark, statement, via_explain=via_explain)
    except Exception:  # noqa: BLE001 - a parse error: spark.sql reports it in its own words
        return
    if not names or names[0] in READ_COMMANDS:
        return
    refused = next((n for n in names if n not in QUERY_OPERATORS), None)
    if refused is not None:
        raise CustomerMLError(
            f"sql is read-only: refused a statement with {refused} (allowed: queries, SHOW, DESCRIBE, EXPLAIN); "
            "tables are written by the stage commands (ingest, validate, score, …)"
        )


def query(spark: SparkSession, settings: Settings, statement: str) -> DataFrame:
    """Run a read-only SQL statement over the registered views; a bad or writing statement is one line."""
    from pyspark.errors import AnalysisException, ParseException

    unreadable: list[str] = []
    views = register(spark, settings, unreadable)
    check_read_only(spark, statement)
    try:
        return spark.sql(statement)
    except (AnalysisException, ParseException) as error:
        first = str(error).strip().splitlines()[0]
        known = ", ".join(views) or f"none yet under {settings.lake_root}"
        broken = f"; not readable, see the warning: {', '.join(unreadable)}" if unreadable else ""
        raise CustomerMLError(f"SQL error: {first} (views: {known}{broken})") from None


def show(frame: DataFrame, limit: int, output: Path | None = None) -> str:
    """The rows as a text table (at most `limit`), or all rows written to `output` as CSV; returns the text."""
    if output is not None:
        return f"wrote {write_csv(frame, output):,} rows to {output}\n"
    rows = _to_pandas(frame.limit(limit + 1))
    more = len(rows) > limit
    text = rows.head(limit).to_string(index=False, max_colwidth=60) if len(rows) else "(no rows)"
    return text + ("\n… more rows (raise --limit or use --output)\n" if more else "\n")


def write_csv(frame: DataFrame, output: Path) -> int:
    """Write every row to one CSV file (RFC 4180 quoting, a header, nulls empty) by Spark, not through the
    driver's memory: one task writes the file, in the query's order, beside `output`, then it is moved there.
    The folder must be one the Spark workers write to (local Spark: any). Returns the rows written."""
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.{uuid.uuid4().hex[:8]}"
    try:
        frame.coalesce(1).write.csv(
            str(staging), header=True, escape='"', timestampFormat="yyyy-MM-dd HH:mm:ss", mode="error"
        )
        parts = sorted(staging.glob("part-*"))
        if parts:
            parts[0].replace(output)
        else:  # no rows and no part file: the header alone
            output.write_text(",".join(frame.columns) + "\n", encoding="utf-8")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    spark = frame.sparkSession
    return spark.read.csv(str(output), header=True, multiLine=True, escape='"').count()


def _to_pandas(frame: DataFrame) -> Any:
    """The rows as pandas, without the warning pyspark gives about its Arrow path before it re-raises a query's
    runtime error (the CLI reports that error in one line); integer columns with nulls as pandas' Int64."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rows = frame.toPandas()
    for index, field in enumerate(frame.schema.fields):  # an integer column with nulls stays integers, not 4000.0
        if isinstance(field.dataType, T.IntegralType) and rows.iloc[:, index].dtype.kind == "f":
            rows.isetitem(index, rows.iloc[:, index].astype("Int64"))
    return rows
