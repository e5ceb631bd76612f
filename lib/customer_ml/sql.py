"""SQL over the lake: every configured table, and every Delta folder under a local lake root, as a view of its
name, plus named summary views.

    segment_summary   per score date and segment: customers, mean score, share predicted positive, candidates
    top_candidates    the latest score date's upgrade candidates, best first (scoring.top_candidates rows)

`customer-ml sql "SELECT …"` registers them all, runs the query and prints the rows (or writes CSV).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

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


def register(spark: SparkSession, settings: Settings) -> list[str]:
    """Register every existing lake table and, when the scoring tables exist, the summary views."""
    names = register_views(spark)
    if {settings.scoring.scored_table, settings.scoring.candidates_table} <= set(names):
        for name, query in summary_views(settings).items():
            spark.sql(query).createOrReplaceTempView(name)
            names.append(name)
    return names


def query(spark: SparkSession, settings: Settings, statement: str) -> DataFrame:
    """Run a SQL statement over the registered views; a bad query is one line naming the problem."""
    from pyspark.errors import AnalysisException, ParseException

    views = register(spark, settings)
    try:
        return spark.sql(statement)
    except (AnalysisException, ParseException) as error:
        first = str(error).strip().splitlines()[0]
        known = ", ".join(views) or f"none yet under {settings.lake_root}"
        raise CustomerMLError(f"SQL error: {first} (views: {known})") from None


def show(frame: DataFrame, limit: int, output: Path | None = None) -> str:
    """The rows as a text table (at most `limit`), or all rows written to `output` as CSV; returns the text."""
    if output is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            rows = frame.toPandas()
        output.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(output, index=False)
        return f"wrote {len(rows):,} rows to {output}\n"
    with warnings.catch_warnings():  # pyspark warns of its Arrow path before re-raising a query's runtime error
        warnings.simplefilter("ignore", UserWarning)
        rows = frame.limit(limit + 1).toPandas()
    more = len(rows) > limit
    text = rows.head(limit).to_string(index=False, max_colwidth=60) if len(rows) else "(no rows)"
    return text + ("\n… more rows (raise --limit or use --output)\n" if more else "\n")
