"""Monitoring throughput: `customer-ml monitor` of 10M scored customers against a 10M-row reference.

    .venv/bin/python bench/bench_monitoring.py [--rows 10000000]

Setup (not timed): both models trained on 100,000 generated customers; a reference base of ROWS customers
(seed 1) and a current one (seed 2), both in `customers` (versions 1 and 2), the current one scored. Then, in the
same session, timed: one plain Spark scan reading the monitored columns of both versions (a count per column; the
floor any monitoring pays; run twice, the second, warm, counts), and the monitor stage with `--baseline
customers@1` (profile per segment, drift by segment, score and segment-mix drift, segment fit, quality measured
from the truth table, three table writes, plots, the MLflow run).
Goal: monitor under 60 s on 2 cores and at most 3x the plain scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from customer_ml import classifier, lake, scoring, segmenter
from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.data import generate
from customer_ml.monitoring import stage
from customer_ml.session import get_spark

FAST = [
    "classifier.candidates.gbt.enabled=false",
    "classifier.candidates.logistic.enabled=false",
    "classifier.candidates.xgboost.grid={}",
    "classifier.candidates.xgboost.params={n_estimators: 60}",
    "segmenter.selection.k_min=4",
    "segmenter.selection.k_max=4",
    "segmenter.stability.runs=0",
    "segmenter.n_init=1",
    "synthetic.faults={}",
    "data.table=customers",
]
DAY = dt.date(2026, 1, 31)


class Phases(logging.Handler):
    """The monitor stage's own log lines, with their times: where the seconds go."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.created, record.getMessage()))


def main() -> None:
    from customer_ml.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--work", type=Path, default=None, help="keep the lake here; reuse it when it is set up")
    parser.add_argument("--set", action="append", default=[], help="a settings override, e.g. monitoring.x=y")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    overrides = [f"project.work_dir={work}", *FAST, *args.set]
    settings = load_settings("local", overrides=overrides, overlays=(EXAMPLE_OVERLAY,))
    spark = get_spark(settings)
    started = time.perf_counter()
    if not (work / "ready").exists():
        generate.run(spark, settings, rows=100_000)
        classifier.run(spark, settings)
        segmenter.run(spark, settings)
        generate.run(spark, settings, rows=args.rows, seed=1)
        generate.run(spark, settings, rows=args.rows, seed=2)
        scoring.run(spark, settings, score_date=DAY)
        (work / "ready").write_text(str(args.rows))
    print(f"setup (not timed): {time.perf_counter() - started:.0f} s; master={spark.sparkContext.master}", flush=True)

    columns = [c for c in lake.read_table(spark, "customers").columns if c not in ("customer_id", "is_affluent")]
    scans = []
    for _ in range(2):  # the first also warms the JVM up, as the monitor's run is warm too: the second counts
        started = time.perf_counter()
        for version in (1, 2):
            lake.read_table(spark, "customers", version=version).agg(*[F.count(c) for c in columns]).collect()
        lake.read_table(spark, "scored_customers").agg(F.count("score"), F.count("segment_name")).collect()
        scans.append(time.perf_counter() - started)
    scan = scans[-1]
    print(
        f"plain scan of {len(columns)} columns of both versions and the scores: {scan:6.1f} s "
        f"(first, cold: {scans[0]:.1f} s)",
        flush=True,
    )

    phases = Phases()
    logging.getLogger("customer_ml").addHandler(phases)
    logging.getLogger("customer_ml").setLevel(logging.INFO)
    started = time.perf_counter()
    result = stage.run(spark, settings, score_date=DAY, baseline="customers@1")
    seconds = time.perf_counter() - started
    for when, line in phases.lines:
        print(f"  +{when - phases.lines[0][0]:6.1f} s  {line}")
    print(
        f"rows={args.rows:>12,} vs {args.rows:,}  monitor {seconds:6.1f} s  = {seconds / scan:4.1f}x the plain scan  "
        f"({len(result.records)} drift statistics, {len(result.profile)} profile rows, {len(result.alerts)} alerts)",
        flush=True,
    )
    print("goal: under 60 s and at most 3x the plain scan")
    spark.stop()
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
