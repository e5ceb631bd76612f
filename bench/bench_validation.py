"""Validation throughput: `customer-ml validate` with the default suite on a generated base.

    .venv/bin/python bench/bench_validation.py [--rows 1000000]

Generates the base (not timed), then times the whole validate stage (schema check, GX suite, results, split,
both table writes). Figures only; the goal for 1M rows on 2 cores is under 60 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.data import generate
from customer_ml.session import get_spark
from customer_ml.validation import stage


def main() -> None:
    from customer_ml.logs import configure_logging

    configure_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-validation-"))
    settings = load_settings("local", overrides=[f"project.work_dir={work}"], overlays=(EXAMPLE_OVERLAY,))
    spark = get_spark(settings)
    generate.run(spark, settings, rows=args.rows)
    started = time.perf_counter()
    report = stage.run(spark, settings, "customers")
    seconds = time.perf_counter() - started
    expectations = len(settings.validation.suites["customers"].expectations)
    print(f"rows={args.rows:,} expectations={expectations} master={spark.sparkContext.master}")
    print(
        f"validate {seconds:6.1f} s  {args.rows / seconds:10,.0f} rows/s  validated={report.validated_rows:,} "
        f"quarantined={report.quarantined_rows:,} (goal < 60 s at 1M)"
    )
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
