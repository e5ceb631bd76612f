"""`customer-ml run PIPELINE`: a pipeline's tasks (conf `pipelines:`) in one Spark session, in graph order.

Each task runs a stage, the library function its own command calls; one session for all saves a JVM start and
the imports per stage. Tasks run one at a time in the order of their `depends_on` graph (ties in the order
listed). A failing task stops its dependents, the others go on, and the run ends with one error naming the task
and how to resume (`--from TASK`: the tasks before it in that order count as done). A `when: alert` task runs
only when a task it depends on raised a monitoring alert. Every task's outcome (start, end, status, rows in and
out, input and output table versions, its summary or error) is appended to `pipeline_runs_table`, one commit per
task, and logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from customer_ml.errors import ConfigError, CustomerMLError, describe_failure
from customer_ml.settings import PipelineTask, Settings

logger = logging.getLogger(__name__)

SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"
RUNS_SCHEMA = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("pipeline", T.StringType()),
        T.StructField("task", T.StringType()),
        T.StructField("stage", T.StringType()),
        T.StructField("status", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("finished_at", T.TimestampType()),
        T.StructField("seconds", T.DoubleType()),
        T.StructField("rows_in", T.LongType()),
        T.StructField("rows_out", T.LongType()),
        T.StructField("input_table", T.StringType()),
        T.StructField("input_version", T.LongType()),
        T.StructField("output_table", T.StringType()),
        T.StructField("output_version", T.LongType()),
        T.StructField("score_date", T.DateType()),
        T.StructField("alert", T.BooleanType()),
        T.StructField("summary", T.StringType()),
        T.StructField("error", T.StringType()),
    ]
)


@dataclass(frozen=True)
class TaskOutcome:
    """What a stage reports: a one-line summary, its rows and tables (None where they do not apply), and whether
    it raised a monitoring alert."""

    summary: str
    rows_in: int | None = None
    rows_out: int | None = None
    input_table: str | None = None
    input_version: int | None = None
    output_table: str | None = None
    output_version: int | None = None
    alert: bool = False
    result: Any = field(default=None, repr=False, compare=False)  # the stage's own result, for callers in Python


@dataclass(frozen=True)
class TaskResult:
    task: str
    stage: str
    status: str  # succeeded, failed or skipped
    summary: str  # the stage's summary, why it was skipped, or the error in one line
    seconds: float
    outcome: TaskOutcome | None = None
    error: BaseException | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PipelineRun:
    run_id: str
    pipeline: str
    results: list[TaskResult]
    gated: frozenset[str] = frozenset()  # the pipeline's `when: alert` tasks
    unrecorded: tuple[str, ...] = ()  # tasks whose pipeline_runs row could not be written, with why

    @property
    def failed(self) -> list[TaskResult]:
        return [r for r in self.results if r.status == FAILED]

    @property
    def unhandled_alert(self) -> bool:
        """A monitor alerted and none of the `when: alert` tasks ran successfully."""
        handled = {r.task for r in self.results if r.status == SUCCEEDED} & self.gated
        return any(r.outcome is not None and r.outcome.alert for r in self.results) and not handled


def _generate(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml.data import generate

    result = generate.run(spark, settings)
    table = settings.synthetic.table
    return TaskOutcome(
        f"{result.rows:,} rows into {table} (version {result.customers_version})",
        rows_out=result.rows,
        output_table=table,
        output_version=result.customers_version,
        result=result,
    )


def _ingest(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml.data import ingest

    reports = ingest.run(spark, settings)
    last = reports[-1]
    return TaskOutcome(
        "; ".join(f"{r.rows_written:,} rows into {r.table} (version {r.version})" for r in reports),
        rows_in=sum(sum(r.source_rows.values()) for r in reports),
        rows_out=sum(r.rows_written for r in reports),
        input_table=", ".join(sorted({path for r in reports for path in r.source_paths.values()})) or None,
        output_table=last.table,
        output_version=last.version,
    )


def _validate(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml.validation import stage

    table = settings.ingest.table
    report = stage.run(spark, settings, table)
    generic = " (generic checks: no suite configured)" if report.generic else ""
    validated = f"{table}_validated"
    return TaskOutcome(
        f"{report.validated_rows:,} validated, {report.quarantined_rows:,} quarantined{generic}",
        rows_in=report.input_rows,
        rows_out=report.validated_rows,
        input_table=table,
        input_version=_latest_version(spark, table),
        output_table=validated,
        output_version=_latest_version(spark, validated),
        result=report,
    )


def _train_classifier(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml import classifier

    result = classifier.run(spark, settings)
    role = "champion" if result.promotion.promoted else "challenger"
    return _trained(
        f"{result.model_name} v{result.version} ({result.winner}, {role}): test ROC AUC "
        f"{result.metrics['test_roc_auc']:.3f}, PR AUC {result.metrics['test_pr_auc']:.3f}",
        result,
    )


def _train_segmenter(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml import segmenter

    result = segmenter.run(spark, settings)
    role = "champion" if result.promotion.promoted else f"challenger: {result.promotion.reason}"
    return _trained(
        f"{result.model_name} v{result.version} ({role}): k = {result.k}, silhouette {result.silhouette:.3f}", result
    )


def _trained(summary: str, result: Any) -> TaskOutcome:
    """A training task's outcome: the table version it read in, the model version it registered out."""
    return TaskOutcome(
        summary,
        input_table=result.input_table,
        input_version=result.input_version,
        output_table=result.model_name,
        output_version=int(result.version),
        result=result,
    )


def _score(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml import scoring

    result = scoring.run(spark, settings, score_date=score_date)
    return TaskOutcome(
        f"{result.rows:,} rows of {result.input_table} scored for {result.score_date}: "
        f"{result.predicted_positive:,} predicted positive, {result.candidates:,} candidates",
        rows_in=result.rows,
        rows_out=result.rows,
        input_table=result.input_table,
        input_version=result.input_version,
        output_table=settings.scoring.scored_table,
        output_version=result.scored_version,
        result=result,
    )


def _monitor(spark: SparkSession, settings: Settings, score_date: dt.date | None) -> TaskOutcome:
    from customer_ml.monitoring import stage

    result = stage.run(spark, settings, score_date=score_date)
    return TaskOutcome(
        "\n".join(stage.summary(result)),
        rows_in=next((r.count for r in result.profile if r.column_name == ":table" and r.slice_key is None), None),
        input_table=result.current.table,
        input_version=result.current.version,
        output_table=settings.monitoring.drift_table,
        output_version=_latest_version(spark, settings.monitoring.drift_table),
        alert=bool(result.alerts),
        result=result,
    )


TASKS: dict[str, Callable[[SparkSession, Settings, dt.date | None], TaskOutcome]] = {
    "generate": _generate,
    "ingest": _ingest,
    "validate": _validate,
    "train-classifier": _train_classifier,
    "train-segmenter": _train_segmenter,
    "score": _score,
    "monitor": _monitor,
}


def plan(settings: Settings, pipeline: str) -> list[tuple[str, PipelineTask]]:
    """The pipeline's tasks in the order they run (each after all it depends on; ties in the order listed),
    checked before anything runs: known stages, known dependencies, no cycle."""
    if pipeline not in settings.pipelines:
        raise ConfigError(
            f"no pipeline '{pipeline}' (pipelines: {', '.join(settings.pipelines) or 'none'}); add it under "
            "pipelines: in your overlay"
        )
    tasks = settings.pipelines[pipeline].tasks
    for name, task in tasks.items():
        stage = task.stage or name
        if stage not in TASKS:
            raise ConfigError(
                f"pipelines.{pipeline}.tasks.{name}: unknown stage '{stage}'; stages: {', '.join(TASKS)} (set "
                "stage: when the task's name is not one)"
            )
        unknown = [d for d in task.depends_on if d not in tasks]
        if unknown:
            raise ConfigError(f"pipelines.{pipeline}.tasks.{name}.depends_on: no task(s) {unknown} in {list(tasks)}")
    order: list[str] = []
    while len(order) < len(tasks):
        ready = [n for n, t in tasks.items() if n not in order and all(d in order for d in t.depends_on)]
        if not ready:
            stuck = [n for n in tasks if n not in order]
            raise ConfigError(f"pipelines.{pipeline}: the tasks {stuck} depend on each other in a cycle")
        order.append(ready[0])
    return [(name, tasks[name]) for name in order]


def run(
    spark: SparkSession,
    settings: Settings,
    pipeline: str,
    *,
    score_date: dt.date | None = None,
    start_from: str | None = None,
    report: Callable[[TaskResult], None] | None = None,
) -> PipelineRun:
    """Run the pipeline's tasks; `report` hears of each as it ends. Failures do not raise: they are in the result
    (`failed`), so that the caller decides the exit code after every independent task has run."""
    order = plan(settings, pipeline)
    names = [name for name, _ in order]
    if start_from is not None and start_from not in names:
        raise ConfigError(f"--from {start_from}: pipeline '{pipeline}' has no such task; its tasks: {names}")
    first = names.index(start_from) if start_from else 0
    run_id = uuid.uuid4().hex
    state: dict[str, str] = {}  # task -> succeeded, failed, skipped, or done (before --from)
    alerted: set[str] = set()
    results = []
    unrecorded = []
    for index, (name, task) in enumerate(order):
        stage = task.stage or name
        if index < first:
            state[name] = "done"
            continue
        reason = _blocked(name, task, state, alerted, name == start_from)
        started = dt.datetime.now(dt.timezone.utc)
        clock = time.perf_counter()
        if reason:
            result = TaskResult(name, stage, SKIPPED, reason, 0.0)
            logger.info("run %s: %s skipped: %s", pipeline, name, reason)
        else:
            logger.info("run %s: %s (%s)", pipeline, name, stage)
            try:
                outcome = TASKS[stage](spark, settings, score_date)
                result = TaskResult(name, stage, SUCCEEDED, outcome.summary, time.perf_counter() - clock, outcome)
                if outcome.alert:
                    alerted.add(name)
            except Exception as error:  # noqa: BLE001 - recorded, dependents stopped, raised at the end
                logger.debug("run %s: %s failed", pipeline, name, exc_info=True)
                result = TaskResult(
                    name, stage, FAILED, describe_failure(error), time.perf_counter() - clock, error=error
                )
        state[name] = result.status
        results.append(result)
        try:
            _record(spark, settings, run_id, pipeline, result, started, score_date)
        except Exception as error:  # noqa: BLE001 - the task's own outcome must not be hidden by its bookkeeping
            why = describe_failure(error)
            logger.warning(
                "run %s: %s's outcome not recorded in %s: %s", pipeline, name, settings.pipeline_runs_table, why
            )
            unrecorded.append(f"{name}: {why}")
        if report:
            report(result)
    gated = frozenset(name for name, task in order if task.when == "alert")
    return PipelineRun(run_id, pipeline, results, gated, tuple(unrecorded))


def _blocked(name: str, task: PipelineTask, state: dict[str, str], alerted: set[str], forced: bool) -> str | None:
    """Why the task does not run (None: it runs)."""
    for dependency in task.depends_on:
        if state.get(dependency) == FAILED:
            return f"{dependency} failed"
        if state.get(dependency) == SKIPPED:
            return f"{dependency} did not run"
    if task.when == "alert" and not forced and not any(d in alerted for d in task.depends_on):
        return f"no alert from {', '.join(task.depends_on) or 'any task'}"
    return None


def _record(
    spark: SparkSession,
    settings: Settings,
    run_id: str,
    pipeline: str,
    result: TaskResult,
    started: dt.datetime,
    score_date: dt.date | None,
) -> None:
    """Append the task's row to the pipeline_runs table (one commit)."""
    from customer_ml import lake

    outcome = result.outcome or TaskOutcome(result.summary)
    finished = started + dt.timedelta(seconds=result.seconds)
    row = (
        run_id,
        pipeline,
        result.task,
        result.stage,
        result.status,
        started.replace(tzinfo=None),
        finished.replace(tzinfo=None),
        round(result.seconds, 3),
        outcome.rows_in,
        outcome.rows_out,
        outcome.input_table,
        outcome.input_version,
        outcome.output_table,
        outcome.output_version,
        score_date,
        outcome.alert,
        result.summary if result.status != FAILED else None,
        result.summary if result.status == FAILED else None,
    )
    lake.write_table(spark.createDataFrame([row], RUNS_SCHEMA), settings.pipeline_runs_table, mode="append")


def _latest_version(spark: SparkSession, table: str) -> int | None:
    from customer_ml import lake

    try:
        return int(lake.history(spark, table, limit=1)[0]["version"])
    except (CustomerMLError, IndexError, KeyError):
        return None


def failure(run: PipelineRun) -> CustomerMLError:
    """The run's failures as one error: the first failed task, what it said, and how to resume; or, when every
    task ran, that pipeline_runs could not be written."""
    failed = run.failed
    if not failed:
        return CustomerMLError(
            f"run {run.pipeline}: the tasks ran, but their outcomes were not recorded in pipeline_runs "
            f"({run.unrecorded[0]})"
        )
    first = failed[0]
    others = f" (and {', '.join(r.task for r in failed[1:])})" if len(failed) > 1 else ""
    error = CustomerMLError(
        f"run {run.pipeline}: task {first.task} failed{others}: {first.summary}; fix it and resume with "
        f"`customer-ml run {run.pipeline} --from {first.task}`"
    )
    error.__cause__ = first.error
    return error
