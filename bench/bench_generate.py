"""Generator throughput: `customer-ml generate` (customers + truth tables written to the lake) at given sizes.

    .venv/bin/python bench/bench_generate.py [--rows 1000000 10000000]

Prints rows, seconds and rows/second per size (the whole stage: calibration, both writes, the AUC). Figures only.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    settings = load_settings("local", overrides=[f"project.work_dir={work}"], overlays=(EXAMPLE_OVERLAY,))
    spark = get_spark(settings)
    generate.run(spark, settings, rows=10_000)  # warm-up: JVM, Python workers
    print(f"master={spark.sparkContext.master} columns={len(settings.synthetic.columns) + 2} (+ truth table)")
    for rows in args.rows:
        started = time.perf_counter()
        result = generate.run(spark, settings, rows=rows)
        seconds = time.perf_counter() - started
        print(
            f"rows={rows:>12,}  {seconds:7.1f} s  {rows / seconds:12,.0f} rows/s  "
            f"positive rate {result.positive_rate:.4f}  Bayes AUC {result.bayes_auc:.4f}"
        )
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
