"""`customer-ml score`: the champion (or given) classifier and segmenter over a table, written per score date.

Both models are the registered Spark PipelineModels, applied natively (no pyfunc UDF). The classifier's decision
threshold is the one stored with its version. Writes, each one Delta commit replacing exactly the score date's
partition (so a re-run of a date is idempotent and other dates are untouched):
- `scored_customers`: id, score, score_decile (1 = highest tenth), predicted_positive, segment_id, segment_name,
  model names / versions / training runs, run_id (this scoring job), scored_at, score_date;
- `upgrade_candidates`: the rows predicted positive whose label is negative today (all predicted positive when
  the table has no label column), ranked by score, with their segment.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

from pyspark.errors import AnalysisException
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_ml import tracking
from customer_ml.columns import (
    CLASSIFIER,
    SCORE,
    SEGMENT_ID,
    SEGMENT_NAME,
    SEGMENTER,
    label_expression,
    score_expression,
)
from customer_ml.errors import ConfigError, CustomerMLError
from customer_ml.features import quote
from customer_ml.lake import tables
from customer_ml.logs import current_context, job_context, stage
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

SCORE_DATE = "score_date"


@dataclass(frozen=True)
class LoadedModel:
    name: str
    version: str
    run_id: str
    model: PipelineModel
    threshold: float | None


@dataclass
class ScoreResult:
    input_table: str
    input_version: int
    score_date: dt.date
    rows: int
    predicted_positive: int
    candidates: int
    classifier: str
    segmenter: str
    scored_version: int
    candidates_version: int
    seconds: float


@dataclass(frozen=True)
class ModelRef:
    """A registered model version, resolved but not loaded: its URI and what it needs of a table."""

    name: str
    version: str
    run_id: str
    uri: str
    input_columns: dict[str, str]
    threshold: float | None

    def load(self, settings: Settings) -> LoadedModel:
        model = tracking.load_spark_model(settings, self.uri)
        logger.info("loaded %s version %s (run %s)", self.name, self.version, self.run_id)
        return LoadedModel(self.name, self.version, self.run_id, model, self.threshold)


def resolve_model(settings: Settings, kind: str, version: str | None) -> ModelRef:
    """The registered model `<project>_<kind>` at `version`, else its @champion (not loaded yet)."""
    tracking.configure(settings)
    name = tracking.model_name(settings, kind)
    uri, resolved = tracking.resolve_version(settings, name, version)
    details = tracking.client(settings).get_model_version(name, resolved)
    threshold = details.tags.get("threshold")
    columns = json.loads(details.tags.get(tracking.INPUT_COLUMNS, "{}"))
    return ModelRef(name, resolved, details.run_id, uri, columns, float(threshold) if threshold is not None else None)


def load_model(settings: Settings, kind: str, version: str | None) -> LoadedModel:
    """The registered model `<project>_<kind>` at `version`, else its @champion, loaded."""
    return resolve_model(settings, kind, version).load(settings)


def check_input(rows: DataFrame, source: str, models: list[ModelRef]) -> None:
    """Fail before any work, naming every column a model needs that the table lacks or holds as text where the
    model read numbers (the columns and types each version recorded when it was trained)."""
    actual = dict(rows.dtypes)
    problems = []
    for model in models:
        missing = [c for c in model.input_columns if c not in actual]
        retyped = [
            f"{c} is {actual[c]}, trained as {t}"
            for c, t in model.input_columns.items()
            if c in actual and (actual[c] == "string") != (t == "string")
        ]
        if missing or retyped:
            what = [f"missing {', '.join(missing)}"] if missing else []
            problems.append(f"{model.name} v{model.version}: {'; '.join(what + retyped)}")
    if problems:
        raise ConfigError(
            f"table {source} does not have the columns the models were trained on: {' | '.join(problems)}; ingest "
            "it with the same casts and renames as the training table"
        )


def run(
    spark: SparkSession,
    settings: Settings,
    *,
    input_table: str | None = None,
    score_date: dt.date | None = None,
    classifier_version: str | None = None,
    segmenter_version: str | None = None,
) -> ScoreResult:
    """Score `input_table` (default `data.table`) for `score_date` (default today, UTC) and write both tables."""
    data, config = settings.data, settings.scoring
    source = input_table or data.table
    day = score_date or dt.datetime.now(dt.UTC).date()
    started = time.perf_counter()
    with job_context(job="score", score_date=day.isoformat()), stage("score") as log:
        classifier_ref = resolve_model(settings, CLASSIFIER, classifier_version)
        segmenter_ref = _segmenter_or_none(settings, segmenter_version)
        if classifier_ref.threshold is None:
            raise CustomerMLError(
                f"{classifier_ref.name} version {classifier_ref.version} has no threshold tag; retrain it"
            )
        rows, input_version = tables.read_snapshot(spark, source, required={data.require_id(): "data.id_column"})
        check_input(rows, source, [m for m in (classifier_ref, segmenter_ref) if m is not None])
        input_rows = log.count("input", rows.count())
        if input_rows == 0:
            raise CustomerMLError(f"table {source} is empty: nothing to score (nothing written)")
        propensity = classifier_ref.load(settings)
        segments = segmenter_ref.load(settings) if segmenter_ref else None
        # One pass through both models into a narrow cache; the deciles and both writes read the cache.
        scored = (
            score_frame(rows, propensity, segments, source)
            .select(
                F.col(quote(data.id_column)),
                F.col(SCORE),
                F.col(SEGMENT_ID),
                F.col(SEGMENT_NAME),
                *([label_expression(data, rows.schema).alias("_label")] if _has_label(settings, rows) else []),
            )
            .cache()
        )
        written = log.count("scored", scored.count())
        if written != input_rows:
            raise CustomerMLError(
                f"scoring {source}: {written} rows scored for {input_rows} input rows; nothing written"
            )
        deciles = _decile_bounds(scored)
        out = scored.select(
            F.col(quote(data.id_column)),
            F.col(SCORE).alias("score"),
            _decile(deciles).alias("score_decile"),
            (F.col(SCORE) >= F.lit(propensity.threshold)).alias("predicted_positive"),
            F.col(SEGMENT_ID),
            F.col(SEGMENT_NAME),
            F.lit(propensity.name).alias("classifier_model"),
            F.lit(propensity.version).alias("classifier_version"),
            F.lit(propensity.run_id).alias("classifier_run_id"),
            F.lit(segments.name if segments else None).cast("string").alias("segmenter_model"),
            F.lit(segments.version if segments else None).cast("string").alias("segmenter_version"),
            F.lit(segments.run_id if segments else None).cast("string").alias("segmenter_run_id"),
            F.lit(current_context()["run_id"]).alias("run_id"),
            F.current_timestamp().alias("scored_at"),
            F.lit(day).alias(SCORE_DATE),
            *([F.col("_label")] if _has_label(settings, rows) else []),
        )
        positives = log.count("predicted_positive", out.filter("predicted_positive").count())
        partition = {SCORE_DATE: day}
        with job_context(input_table=source, input_version=input_version):  # into both commits' metadata
            scored_version = tables.write_table(
                out.drop("_label"), config.scored_table, mode="overwrite_partitions", partition_values=partition
            )
            candidates = upgrade_candidates(out, settings, rows)
            candidate_rows = log.count("candidates", candidates.count())
            candidates_version = tables.write_table(
                candidates, config.candidates_table, mode="overwrite_partitions", partition_values=partition
            )
        scored.unpersist()
    return ScoreResult(
        input_table=source,
        input_version=input_version,
        score_date=day,
        rows=written,
        predicted_positive=positives,
        candidates=candidate_rows,
        classifier=f"{propensity.name} v{propensity.version}",
        segmenter=f"{segments.name} v{segments.version}" if segments else "no segmenter",
        scored_version=scored_version,
        candidates_version=candidates_version,
        seconds=time.perf_counter() - started,
    )


def score_frame(rows: DataFrame, propensity: LoadedModel, segments: LoadedModel | None, source: str) -> DataFrame:
    """The rows with `score` (probability of the positive class), `segment_id` and `segment_name` (null without
    a segmenter).

    Raises:
        ConfigError: the table lacks a column a model needs, named, with the model and version.
    """
    columns = rows.columns
    try:
        with_score = propensity.model.transform(rows).select(
            *[F.col(quote(c)) for c in columns],
            score_expression().alias(SCORE),
        )
        segmented = (
            segments.model.transform(with_score)
            if segments
            else with_score.select(
                "*",
                F.lit(None).cast("int").alias(SEGMENT_ID),
                F.lit(None).cast("string").alias(SEGMENT_NAME),
            )
        )
        both = segmented.select(*[F.col(quote(c)) for c in columns], SCORE, SEGMENT_ID, SEGMENT_NAME)
        both.schema  # noqa: B018 - analyse now: a missing column fails here, with its name
    except AnalysisException as error:
        message = str(error).splitlines()[0]
        segmented_by = f" / {segments.name} v{segments.version}" if segments else ""
        raise ConfigError(
            f"table {source} cannot be scored by {propensity.name} v{propensity.version}{segmented_by}: {message} "
            "(the table needs the columns the models were trained on)"
        ) from None
    return both


def upgrade_candidates(out: DataFrame, settings: Settings, rows: DataFrame) -> DataFrame:
    """Predicted positive and (when the table has the label) labelled negative, ranked by score."""
    chosen = out.filter(F.col("predicted_positive"))
    if _has_label(settings, rows):
        chosen = chosen.filter(F.col("_label") == 0.0)  # an unknown (null) label is not a negative one
    rank = F.row_number().over(
        Window.partitionBy(SCORE_DATE).orderBy(F.col("score").desc(), quote(settings.data.id_column))
    )
    return chosen.select(
        F.col(quote(settings.data.id_column)),
        rank.alias("candidate_rank"),
        "score",
        "score_decile",
        SEGMENT_ID,
        SEGMENT_NAME,
        "classifier_version",
        "run_id",
        SCORE_DATE,
    )


def _segmenter_or_none(settings: Settings, version: str | None) -> ModelRef | None:
    """The segmenter to use: the given version (which must exist), else the champion, else none (logged)."""
    if version is not None:
        return resolve_model(settings, SEGMENTER, version)
    name = tracking.model_name(settings, SEGMENTER)
    tracking.configure(settings)
    if tracking.champion_version(settings, name) is None:
        logger.warning(
            "score: no @champion of %s: scoring without segments (segment_id and segment_name are null); "
            "`customer-ml train-segmenter` trains one, `customer-ml promote --model segmenter --version N` makes a "
            "trained version champion",
            name,
        )
        return None
    return resolve_model(settings, SEGMENTER, None)


def _has_label(settings: Settings, rows: DataFrame) -> bool:
    return settings.data.label is not None and settings.data.label.column in rows.columns


def _decile_bounds(scored: DataFrame) -> list[float]:
    """The 10th … 90th percentiles of the score (approximate, relative error 1e-4: one pass over the rows)."""
    return scored.approxQuantile(SCORE, [i / 10 for i in range(1, 10)], 1e-4)


def _decile(bounds: list[float]) -> F.Column:
    """1 for the highest tenth of scores … 10 for the lowest."""
    score = F.col(SCORE)
    cases = F.when(score >= F.lit(bounds[8]), F.lit(1))
    for decile in range(2, 10):  # decile 2 is score >= the 80th percentile … decile 9 >= the 10th
        cases = cases.when(score >= F.lit(bounds[9 - decile]), F.lit(decile))
    return cases.otherwise(F.lit(10)).cast("int")
