"""Scoring throughput: `customer-ml score` (both champions, both tables) at 1M and 10M customers.

    .venv/bin/python bench/bench_scoring.py [--rows 1000000 10000000]

Trains both models once on 100,000 generated customers (not timed), then for each size generates the base (not
timed) and times the whole score stage: model loading, scoring, deciles, both partition writes.
Goal: 10M in under 5 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

from customer_ml import classifier, scoring, segmenter
from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.data import generate
from customer_ml.session import get_spark

FAST = [
    "classifier.candidates.gbt.enabled=false",
    "classifier.candidates.xgboost.grid={}",
    "segmenter.selection.k=4",
    "segmenter.stability.runs=0",
    "synthetic.faults={}",
    "data.table=customers",
]


def main() -> None:
    from customer_ml.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    settings = load_settings("local", overrides=[f"project.work_dir={work}", *FAST], overlays=(EXAMPLE_OVERLAY,))
    spark = get_spark(settings)
    generate.run(spark, settings, rows=100_000)
    classifier.run(spark, settings)
    segmenter.run(spark, settings)
    print(f"models trained on 100,000 rows; master={spark.sparkContext.master}")
    for rows in args.rows:
        generate.run(spark, settings, rows=rows, seed=rows)
        started = time.perf_counter()
        result = scoring.run(spark, settings, score_date=dt.date(2026, 1, 1))
        seconds = time.perf_counter() - started
        print(
            f"rows={rows:>12,}  score {seconds:7.1f} s  {rows / seconds:10,.0f} rows/s  "
            f"predicted positive {result.predicted_positive:,}  candidates {result.candidates:,}",
            flush=True,
        )
    print("goal: 10,000,000 rows in under 300 s")
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
