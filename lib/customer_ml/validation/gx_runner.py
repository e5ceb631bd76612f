"""Run a suite from conf with Great Expectations 1.x on a Spark DataFrame, and build its Data Docs."""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame

from customer_ml.errors import ValidationError
from customer_ml.settings import SuiteSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExpectationResult:
    expectation: str
    column: str | None
    kwargs: str
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    observed_value: str | None


def expectation_class(name: str) -> Any:
    """The GX expectation class for a snake_case GX name, or a clear error."""
    import great_expectations as gx

    class_name = "".join(part.capitalize() for part in name.split("_"))
    found = getattr(gx.expectations, class_name, None)
    if found is None:
        raise ValidationError(
            f"unknown GX expectation '{name}' in conf validation.suites; use a GX 1.x expectation name such as "
            "expect_column_values_to_not_be_null (see the GX expectation gallery)"
        )
    return found


@contextmanager
def _one_run_at_a_time(docs_root: Path, table: str) -> Iterator[None]:
    """GX's file context is one folder of suites, definitions and Data Docs that a run rewrites: two runs at once
    (scheduled jobs overlap) broke each other inside GX. A run waits, saying for whom, while another holds it."""
    docs_root.mkdir(parents=True, exist_ok=True)
    with (docs_root / ".customer_ml.lock").open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another run"
            logger.warning("validate %s: waiting for %s, which is using the GX context at %s", table, holder, docs_root)
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"validate {table} (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def validate(
    frame: DataFrame, table: str, suite: SuiteSpec, docs_root: Path, examples: int = 0
) -> tuple[list[ExpectationResult], Path]:
    """Validate `frame` with the suite; returns one result per expectation and the Data Docs index page. Runs
    that share `docs_root` take turns.

    Args:
        examples: failing values to list per expectation (`validation.unexpected_examples`). With 0, GX's BASIC
            result format with no example list: a row rule costs its share of GX's aggregation and no pass of its
            own (GX's default, SUMMARY with 20 examples, runs a filter-and-collect job per rule).
    """
    with _one_run_at_a_time(docs_root, table):
        return _validate(frame, table, suite, docs_root, examples)


def result_format(examples: int) -> dict[str, Any]:
    """GX's result format for `examples` failing values per expectation (a limit of 0 reads nothing)."""
    return {"result_format": "SUMMARY" if examples else "BASIC", "partial_unexpected_count": examples}


def _validate(
    frame: DataFrame, table: str, suite: SuiteSpec, docs_root: Path, examples: int
) -> tuple[list[ExpectationResult], Path]:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    expectations = []
    for index, spec in enumerate(suite.expectations):
        try:
            expectations.append(expectation_class(spec.expectation)(**spec.kwargs))
        except ValidationError:
            raise
        except Exception as error:  # GX validates kwargs with pydantic
            first = str(error).strip().splitlines()[0]
            raise ValidationError(
                f"validation.suites.{table}.expectations[{index}] ({spec.expectation}): "
                f"bad kwargs {spec.kwargs}: {first}"
            ) from None
    context = gx.get_context(mode="file", project_root_dir=str(docs_root))
    # No "Calculating Metrics" tqdm bars on stderr: the stage logs its own progress, and a scheduler's log
    # would keep every redraw of them.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    suite_name = f"{table}_suite"
    for name in [s.name for s in context.suites.all() if s.name == suite_name]:
        context.suites.delete(name)
    gx_suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        gx_suite.add_expectation(expectation)
    source = _get_or_add(
        lambda: context.data_sources.get("customer_ml"), lambda: context.data_sources.add_spark("customer_ml")
    )
    asset = _get_or_add(lambda: source.get_asset(table), lambda: source.add_dataframe_asset(table))
    batch = _get_or_add(
        lambda: asset.get_batch_definition("whole"), lambda: asset.add_batch_definition_whole_dataframe("whole")
    )
    definition_name = f"{table}_validation"
    for existing in [d.name for d in context.validation_definitions.all() if d.name == definition_name]:
        context.validation_definitions.delete(existing)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=definition_name, data=batch, suite=gx_suite)
    )
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format(examples))
    _raise_evaluation_errors(table, outcome.results)
    unused = list(suite.expectations)
    results = []
    for outcome_result in outcome.results:  # matched by name and column: GX does not promise the suite's order
        config = outcome_result.expectation_config
        same = [
            s for s in unused if s.expectation == config.type and s.kwargs.get("column") == config.kwargs.get("column")
        ]  # two rules of one kind on one column (a range and the finite check) are told apart by their kwargs
        spec = next((s for s in same if all(config.kwargs.get(k) == v for k, v in s.kwargs.items())), same[0])
        unused.remove(spec)
        results.append(_result(outcome_result, spec.severity))
    context.build_data_docs()
    index = next(Path(docs_root).rglob("data_docs/local_site/index.html"))
    return results, index


def _raise_evaluation_errors(table: str, results: list[Any]) -> None:
    """GX reports an expectation it could not evaluate (an unreadable file, a failed Spark job) as an unsuccessful
    result: that says nothing about the rows, so the run stops before any result is recorded."""
    for result in results:
        info = result.exception_info or {}
        infos = info.values() if info and "raised_exception" not in info else [info]
        for item in infos:
            if isinstance(item, dict) and item.get("raised_exception"):
                message = str(item.get("exception_message") or "").strip().splitlines()
                raise ValidationError(
                    f"validation of {table} could not evaluate {result.expectation_config.type}: "
                    f"{message[0] if message else 'no message'} (nothing recorded; rerun once the table reads)"
                )


def _get_or_add(get: Any, add: Any) -> Any:
    try:
        return get()
    except Exception:  # noqa: BLE001 - GX raises several not-found types; adding is the answer to all of them
        return add()


def _result(result: Any, severity: str) -> ExpectationResult:
    config = result.expectation_config
    details = result.result or {}
    observed = details.get("observed_value")
    return ExpectationResult(
        expectation=config.type,
        column=config.kwargs.get("column"),
        kwargs=json.dumps({k: v for k, v in config.kwargs.items() if k != "batch_id"}, default=str, sort_keys=True),
        severity=severity,
        success=bool(result.success),
        element_count=details.get("element_count"),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        observed_value=None if observed is None else json.dumps(observed, default=str),
    )
