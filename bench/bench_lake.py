"""Lake throughput: write and read N rows x 20 columns through customer_ml.lake and through plain Parquet.

    .venv/bin/python bench/bench_lake.py [--rows 2000000] [--partitions 4] [--repeat 5]

The lake and plain Parquet run alternately, --repeat rounds each, so machine noise hits both alike. Prints the
median and best seconds per operation and the lake / Parquet ratios of the medians. Figures only; nothing asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import lake
from customer_ml.config import load_settings
from customer_ml.session import get_spark


def source(spark: SparkSession, rows: int, partitions: int) -> DataFrame:
    """20 columns: 8 doubles, 6 longs, 4 strings, a date and a boolean, from hashes of the id."""
    base = spark.range(0, rows, numPartitions=partitions)
    columns = [F.col("id")]
    columns += [(F.abs(F.hash("id", F.lit(i))) % 100_000 / 7.0).alias(f"amount_{i}") for i in range(8)]
    columns += [(F.abs(F.hash("id", F.lit(100 + i))) % 1000).cast("long").alias(f"count_{i}") for i in range(5)]
    columns += [
        F.concat(F.lit("cat_"), (F.abs(F.hash("id", F.lit(200 + i))) % 50).cast("string")).alias(f"cat_{i}")
        for i in range(4)
    ]
    columns += [
        F.date_add(F.lit("2020-01-01").cast("date"), (F.col("id") % 1500).cast("int")).alias("opened"),
        (F.col("id") % 3 == 0).alias("active"),
    ]
    return base.select(*columns)


def alternate(repeat: int, actions: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Run the actions in turn, `repeat` rounds; return each one's timings."""
    timings: dict[str, list[float]] = {name: [] for name in actions}
    for _ in range(repeat):
        for name, action in actions.items():
            started = time.perf_counter()
            action()
            timings[name].append(time.perf_counter() - started)
    return timings


def scan(frame: DataFrame) -> None:
    frame.write.format("noop").mode("overwrite").save()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    settings = load_settings("local", overrides=[f"project.work_dir={work}", "tables.bench.path=bench"])
    spark = get_spark(settings)
    data = source(spark, args.rows, args.partitions).cache()
    data.count()
    parquet = str(work / "plain_parquet")

    def write_parquet() -> None:
        shutil.rmtree(parquet, ignore_errors=True)
        data.write.mode("overwrite").parquet(parquet)

    def write_lake() -> None:
        shutil.rmtree(lake.table_path(spark, "bench"), ignore_errors=True)
        lake.write_table(data, "bench", mode="overwrite")

    timings = alternate(args.repeat, {"write parquet": write_parquet, "write lake": write_lake})
    timings |= alternate(
        args.repeat,
        {
            "read parquet": lambda: scan(spark.read.parquet(parquet)),
            "read lake": lambda: scan(lake.read_table(spark, "bench")),
        },
    )
    figures = {name: statistics.median(values) for name, values in timings.items()}
    rows_read = lake.read_table(spark, "bench").count()
    print(
        f"rows={args.rows:,} columns={len(data.columns)} input partitions={args.partitions} "
        f"engine=delta-rs master={spark.sparkContext.master} (rows read back: {rows_read:,})"
    )
    for name, seconds in figures.items():
        print(
            f"{name:<14} median {seconds:6.2f} s  best {min(timings[name]):6.2f} s  "
            f"{args.rows / seconds:12,.0f} rows/s (median)"
        )
    print(f"write ratio lake/parquet: {figures['write lake'] / figures['write parquet']:.2f} (goal <= 1.5)")
    print(f"read ratio  lake/parquet: {figures['read lake'] / figures['read parquet']:.2f} (goal <= 1.2)")
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
