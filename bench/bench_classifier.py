"""Classifier engines at 1M rows: train time and test ROC AUC, against LightGBM on one node.

    .venv/bin/pip install -e '.[bench]'      # LightGBM, the reference (bench only)
    .venv/bin/python bench/bench_classifier.py [--rows 1000000]

Generates the base (not timed), splits and builds features with the library (not timed), then times only the
fit of each engine on the same weighted train rows and scores the same test rows:
  gbt-spark-defaults  GBTClassifier with Spark's defaults (20 trees, depth 5, no subsampling, no node-id cache);
  gbt-tuned           GBTClassifier with our defaults (classifier.candidates.gbt.params in conf/base);
  xgboost-spark       SparkXGBClassifier with our defaults (200 trees, depth 4, max_bin 64), one worker per core;
  lightgbm            LightGBM on the driver (pandas, 200 trees, num_leaves 31, its default max_bin 255, all cores).
Goal: the best Spark engine trains in <= 3x LightGBM's time with ROC AUC >= LightGBM's - 0.005.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F
from sklearn.metrics import roc_auc_score

from customer_ml import classifier, features
from customer_ml.config import EXAMPLE_OVERLAY, load_settings
from customer_ml.data import generate
from customer_ml.lake import read_table
from customer_ml.session import get_spark


def main() -> None:
    from customer_ml.logs import configure_logging

    configure_logging("WARNING")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip", nargs="*", default=[], help="engines to leave out")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-classifier-"))
    settings = load_settings(
        "local", overrides=[f"project.work_dir={work}", "synthetic.faults={}"], overlays=(EXAMPLE_OVERLAY,)
    )
    spark = get_spark(settings)
    generate.run(spark, settings, rows=args.rows)
    config, data = settings.classifier, settings.data
    rows = read_table(spark, "customers").withColumn(
        classifier.LABEL, classifier.label_expression(data, read_table(spark, "customers").schema)
    )
    train, _, test = classifier.split(rows, config, data.id_column)
    positives = train.agg(F.sum(classifier.LABEL)).first()[0]
    total = train.count()
    train = classifier.with_weights(train, config.class_weight, positives, total)
    exclude = [data.id_column, data.label.column, classifier.LABEL, classifier.WEIGHT]
    profile = features.profile_features(train, config.features, exclude)
    model = features.build_feature_pipeline(config.features, train.schema, profile, exclude).fit(train)
    cores = spark.sparkContext.defaultParallelism
    prepared_train = model.transform(train).select(classifier.LABEL, classifier.WEIGHT, features.FEATURES)
    prepared_train = prepared_train.repartition(cores).cache()
    prepared_test = model.transform(test.withColumn(classifier.WEIGHT, F.lit(1.0)))
    prepared_test = prepared_test.select(classifier.LABEL, classifier.WEIGHT, features.FEATURES).cache()
    print(f"rows={args.rows:,} train={prepared_train.count():,} test={prepared_test.count():,} cores={cores}")

    from pyspark.ml.classification import GBTClassifier

    engines = {
        "gbt-spark-defaults": lambda: GBTClassifier(
            featuresCol=features.FEATURES, labelCol=classifier.LABEL, weightCol=classifier.WEIGHT, seed=17
        ),
        "gbt-tuned": lambda: classifier.make_estimator("gbt", config.candidates["gbt"].params, cores),
        "xgboost-spark": lambda: classifier.make_estimator(
            "xgboost", {**config.candidates["xgboost"].params, "max_depth": 4}, cores
        ),
    }
    results: dict[str, tuple[float, float]] = {}
    for name, make in engines.items():
        if name in args.skip:
            continue
        started = time.perf_counter()
        fitted = make().fit(prepared_train)
        seconds = time.perf_counter() - started
        scored = fitted.transform(prepared_test).select(
            classifier.LABEL, vector_to_array("probability").getItem(1).alias("score")
        )
        local = scored.toPandas()
        results[name] = (seconds, roc_auc_score(local[classifier.LABEL], local["score"]))
        print(f"{name:20s} train {seconds:7.1f} s  test ROC AUC {results[name][1]:.4f}", flush=True)

    if "lightgbm" not in args.skip:
        import lightgbm

        def arrays(frame):  # noqa: ANN001, ANN202
            local = frame.select(vector_to_array(features.FEATURES).alias("x"), classifier.LABEL, classifier.WEIGHT)
            local = local.toPandas()
            return np.stack(local["x"].to_numpy()), local[classifier.LABEL].to_numpy(), local[classifier.WEIGHT]

        x_train, y_train, w_train = arrays(prepared_train)
        x_test, y_test, _ = arrays(prepared_test)
        started = time.perf_counter()
        booster = lightgbm.LGBMClassifier(n_estimators=200, learning_rate=0.1, num_leaves=31, n_jobs=cores, verbose=-1)
        booster.fit(x_train, y_train, sample_weight=w_train)
        seconds = time.perf_counter() - started
        results["lightgbm"] = (seconds, roc_auc_score(y_test, booster.predict_proba(x_test)[:, 1]))
        print(f"{'lightgbm':20s} train {seconds:7.1f} s  test ROC AUC {results['lightgbm'][1]:.4f}", flush=True)

    if "lightgbm" in results:
        base_seconds, base_auc = results["lightgbm"]
        print("vs lightgbm (time ratio, AUC difference):")
        for name, (seconds, auc) in results.items():
            print(f"  {name:20s} {seconds / base_seconds:6.2f}x  {auc - base_auc:+.4f}")
        spark_engines = {k: v for k, v in results.items() if k != "lightgbm"}
        if spark_engines:
            best = max(spark_engines, key=lambda k: spark_engines[k][1])
            seconds, auc = spark_engines[best]
            print(
                f"best Spark engine {best}: {seconds / base_seconds:.2f}x LightGBM's time (goal <= 3), "
                f"AUC {auc - base_auc:+.4f} (goal >= -0.005)"
            )
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
