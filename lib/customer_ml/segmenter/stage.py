"""`customer-ml train-segmenter`: KMeans segments with k by elbow + silhouette, stability, profiles and names.

Flow:
1. features from `segmenter.features` through the same builder as the classifier (scaling always on);
2. k: every k in k_min..k_max fitted; inertia for each (elbow = the point farthest from the chord between the
   first and last points of the normalised curve) and silhouette on a sample; `selection.rule` combines them;
3. stability: `stability.runs` refits on bootstrap samples with other seeds, their labelings of one fixed sample
   compared pairwise with the chosen model's by the adjusted Rand index (mean reported, warning below min_ari);
4. segment ids ordered by size (0 = largest) and names from the most distinguishing features, both baked into the
   model as a SQL stage, so the registered model outputs `segment_id` and `segment_name` directly;
5. profiles (size, share, mean, median, z-score per numeric feature; share in segment and population and z per
   level of a categorical one) to the `segment_profiles` table and MLflow, plots, the model registered with alias
   `challenger` and the promotion gate.
"""

import json
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import PCA, SQLTransformer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import features, reports, tracking
from customer_ml.columns import MEAN_DISTANCE, SEGMENT_ID, SEGMENT_MIX, SEGMENT_NAME, SEGMENTER
from customer_ml.lake import tables
from customer_ml.logs import StageLog, job_context, stage
from customer_ml.segmenter.fit import mean_distance
from customer_ml.segmenter.profiles import name_segments, segment_profiles
from customer_ml.segmenter.selection import KScan, sample_rows, scan_k, stability_ari
from customer_ml.session import default_parallelism, require_classic
from customer_ml.settings import FeatureSpec, SegmenterSettings, Settings

logger = logging.getLogger(__name__)


KIND = SEGMENTER
"""The training run's artifact: rows per segment name, the mix `customer-ml monitor` compares score dates with."""
CLUSTER = "_cluster"


@dataclass
class SegmentResult:
    run_id: str
    model_name: str
    version: str
    k: int
    scan: KScan
    stability: float | None
    silhouette: float
    names: dict[int, str]
    profiles: pd.DataFrame
    promotion: tracking.Promotion
    input_table: str
    input_version: int
    seconds: float


@dataclass
class Prepared:
    """The input as feature vectors, with the fit sample and the silhouette sample drawn from them (all cached)."""

    rows: DataFrame
    input_version: int
    spec: FeatureSpec
    profile: features.FeatureProfile
    feature_model: PipelineModel
    vectors: DataFrame  # id, features: every row
    fit_rows: DataFrame  # the rows KMeans fits on (segmenter.fit_sample_rows)
    sample: DataFrame  # the rows silhouettes are measured on
    fitted_on: int  # rows in fit_rows

    def unpersist(self) -> None:
        for frame in (self.vectors, self.fit_rows, self.sample):
            frame.unpersist()


@dataclass
class Segments:
    """The chosen KMeans model with its segment ids, names and profiles, and the figures that chose it."""

    kmeans: KMeansModel
    scan: KScan
    stability: float | None
    silhouette: float
    order: dict[int, int]  # KMeans cluster -> segment id
    fit: float  # mean distance to the centre
    profiles: pd.DataFrame
    names: dict[int, str]
    model: PipelineModel  # features, KMeans and the id / name stage, as registered


def run(spark: SparkSession, settings: Settings, table: str | None = None) -> SegmentResult:
    """Fit, profile, name, log and register the segmenter on `table` (default `data.table`)."""
    require_classic(spark, "train-segmenter")
    source = table or settings.data.table
    started = time.perf_counter()
    with job_context(job="train-segmenter"), stage("train-segmenter") as log:
        prepared = prepare(spark, settings, source, log)
        segments = segment(prepared, settings)
        run_id, name, version, decision = _track(spark, settings, source, prepared, segments)
        prepared.unpersist()
    return SegmentResult(
        run_id=run_id,
        model_name=name,
        version=version,
        k=segments.scan.chosen,
        scan=segments.scan,
        stability=segments.stability,
        silhouette=segments.silhouette,
        names=segments.names,
        profiles=segments.profiles,
        promotion=decision,
        input_table=source,
        input_version=prepared.input_version,
        seconds=time.perf_counter() - started,
    )


def prepare(spark: SparkSession, settings: Settings, source: str, log: StageLog) -> Prepared:
    """Read the input, fit the feature pipeline (scaling always on), turn every row into a cached vector and draw
    the fit and silhouette samples."""
    config, data = settings.segmenter, settings.data
    spec = config.features.model_copy(update={"scale": True})
    rows, input_version = tables.read_snapshot(spark, source, required={data.require_id(): "data.id_column"})
    exclude = [data.id_column] + ([data.label.column] if data.label else [])
    features.check_spec(spec, rows, "segmenter.features", source, exclude)
    profile = features.profile_features(rows, spec, exclude, seed=config.seed)
    pipeline = features.build_feature_pipeline(spec, rows.schema, profile, exclude)
    features.choose_pca_components(pipeline, rows, spec, profile)
    feature_model = pipeline.fit(rows)
    vectors = (
        feature_model.transform(rows)
        .select(data.id_column, features.FEATURES)
        .repartition(default_parallelism(spark))
        .cache()
    )
    total = log.count("input", vectors.count())
    fit_rows = sample_rows(vectors, config.fit_sample_rows, total, config.seed).cache()
    fitted_on = log.count("fit sample", fit_rows.count())
    sample = sample_rows(fit_rows, config.selection.silhouette_sample_rows, fitted_on, config.seed).cache()
    return Prepared(rows, input_version, spec, profile, feature_model, vectors, fit_rows, sample, fitted_on)


def segment(prepared: Prepared, settings: Settings) -> Segments:
    """Choose k, check the stability, order the segments by size, profile and name them."""
    config, id_column = settings.segmenter, settings.data.id_column
    rows, spec, profile = prepared.rows, prepared.spec, prepared.profile
    models, scan = scan_k(prepared.fit_rows, prepared.sample, config)
    kmeans = models[scan.chosen]
    stability = stability_ari(prepared.fit_rows, kmeans, config, prepared.fitted_on)
    if stability is not None and stability < config.stability.min_ari:
        logger.warning(
            "segmenter stability: mean adjusted Rand index %.3f < %.2f (segmenter.stability.min_ari): the "
            "segments change between refits; consider another k or features",
            stability,
            config.stability.min_ari,
        )
    assigned = kmeans.transform(prepared.vectors).withColumnRenamed("prediction", CLUSTER)
    order = _order_by_size(assigned)
    fit = mean_distance(assigned, kmeans, CLUSTER)
    profiled = rows.join(assigned.select(id_column, CLUSTER), id_column).withColumn(SEGMENT_ID, _relabel(order))
    numeric = [c for c in profile.numeric if c in rows.columns or c in spec.derived]
    categorical = [c for c in profile.categorical if c in rows.columns or c in spec.derived]
    profiled = features.derive(profiled, spec) if spec.derived else profiled
    # The profiles aggregate three times (per segment, population, levels): cache the join's narrow result once.
    profiled = profiled.select(SEGMENT_ID, *[F.col(features.quote(c)) for c in [*numeric, *categorical]]).cache()
    profiles = segment_profiles(profiled, SEGMENT_ID, numeric, categorical, config.profile_levels)
    profiled.unpersist()
    names = name_segments(profiles, config)
    model = PipelineModel(stages=[*prepared.feature_model.stages, kmeans, _label_stage(order, names)])
    silhouette = scan.silhouette[scan.ks.index(scan.chosen)]
    return Segments(kmeans, scan, stability, silhouette, order, fit, profiles, names, model)


def _track(
    spark: SparkSession, settings: Settings, source: str, prepared: Prepared, segments: Segments
) -> tuple[str, str, str, tracking.Promotion]:
    """One MLflow run: parameters, metrics, plots, the model registered as challenger, the promotion gate on the
    silhouette sample, and the profiles table. Returns (run id, model name, version, the decision)."""
    import mlflow

    config, id_column = settings.segmenter, settings.data.id_column
    read = tables.identity(spark, source)
    tracking.configure(settings)
    name = tracking.model_name(settings, KIND)
    with mlflow.start_run(run_name=f"train-segmenter {source}") as active, job_context(run_id=active.info.run_id):
        _log_run(settings, source, prepared.input_version, read, prepared.profile, segments)
        mlflow.log_metric(MEAN_DISTANCE, segments.fit)
        with tempfile.TemporaryDirectory() as folder:
            _log_plots(Path(folder), prepared.sample, segments)
        columns = features.input_columns(prepared.spec, prepared.profile, prepared.rows.schema)
        version = _log_model(segments.model, settings, name, prepared.rows, segments.scan.chosen, columns)
        same_rows = prepared.rows.join(prepared.sample.select(id_column), id_column)
        evaluator = ClusteringEvaluator(featuresCol=features.FEATURES, predictionCol="prediction")
        decision = tracking.promotion_gate(
            settings,
            name,
            version,
            "silhouette",
            lambda old: evaluator.evaluate(old.transform(same_rows)),
            lambda figure, champion: decide(segments.silhouette, segments.stability, figure, champion, config),
        )
        _write_profiles(
            spark, config.profiles_table, segments.profiles, segments.names, name, version, active.info.run_id
        )
    return active.info.run_id, name, version, decision


def decide(
    silhouette: float,
    stability: float | None,
    champion_silhouette: float | None,
    champion: str | None,
    config: SegmenterSettings,
) -> tracking.Promotion:
    """Champion when there is none (even when unstable: segments beat none; the reason says so and it is
    logged as a warning), or when silhouette >= champion's - margin and the segmentation is stable."""
    if stability is not None and stability < config.stability.min_ari:
        reason = f"stability {stability:.3f} < min_ari {config.stability.min_ari}"
        if champion is None:
            return tracking.Promotion(
                True, f"no champion yet, promoted although {reason}: review it", silhouette, None, None
            )
        return tracking.Promotion(False, reason, silhouette, champion_silhouette, champion)
    # "not worse by more than the margin" is "beats by at least -margin".
    return tracking.decide_promotion(silhouette, champion_silhouette, -config.promotion.silhouette_margin, champion)


def _order_by_size(assigned: DataFrame) -> dict[int, int]:
    """KMeans cluster index -> segment id, segment 0 the largest (ties by cluster index): ids do not depend on
    the order KMeans happened to find the clusters in."""
    sizes = assigned.groupBy(CLUSTER).count().toPandas().sort_values(["count", CLUSTER], ascending=[False, True])
    return {int(cluster): position for position, cluster in enumerate(sizes[CLUSTER])}


def _relabel(order: dict[int, int]) -> F.Column:
    expression = F.lit(None).cast("int")
    for cluster, segment in order.items():
        expression = F.when(F.col(CLUSTER) == cluster, F.lit(segment)).otherwise(expression)
    return expression


def _label_stage(order: dict[int, int], names: dict[int, str]) -> SQLTransformer:
    """A SQL stage mapping KMeans' prediction to the segment id and name (stored in the model)."""
    ids = " ".join(f"WHEN {cluster} THEN {segment}" for cluster, segment in sorted(order.items()))
    labels = " ".join(
        f"WHEN {cluster} THEN '{names[segment].replace(chr(39), chr(39) * 2)}'"
        for cluster, segment in sorted(order.items())
    )
    return SQLTransformer(
        statement=f"SELECT *, CAST(CASE prediction {ids} END AS INT) AS {SEGMENT_ID}, "
        f"CASE prediction {labels} END AS {SEGMENT_NAME} FROM __THIS__"
    )


def _log_run(
    settings: Settings,
    source: str,
    input_version: int,
    read: tables.TableIdentity,
    profile: features.FeatureProfile,
    segments: Segments,
) -> None:
    import mlflow

    scan, stability, silhouette = segments.scan, segments.stability, segments.silhouette
    names, profiles = segments.names, segments.profiles
    tracking.log_params(
        {
            "data": settings.data.model_dump(),
            "segmenter": settings.segmenter.model_dump(mode="json"),
            "input": {"table": source, "version": input_version},
            "k_chosen": scan.chosen,
            "k_elbow": scan.elbow,
        }
    )
    tracking.record_input("train-segmenter", source, input_version, read.location, read.table_id)
    for k, inertia, sil in zip(scan.ks, scan.inertia, scan.silhouette, strict=True):
        mlflow.log_metric("inertia", inertia, step=k)
        mlflow.log_metric("silhouette_by_k", sil, step=k)
    mlflow.log_metrics({"k": float(scan.chosen), "silhouette": silhouette})
    if stability is not None:
        mlflow.log_metric("stability_ari", stability)
    sizes = profiles.drop_duplicates(SEGMENT_ID)
    for row in sizes.itertuples():
        mlflow.log_metric(f"segment_{row.segment_id}_share", float(row.share))
    mlflow.log_dict({str(k): v for k, v in names.items()}, "segment_names.json")
    mlflow.log_dict({names[int(row.segment_id)]: int(row.size) for row in sizes.itertuples()}, SEGMENT_MIX)
    mlflow.log_dict(profile.as_dict(), "feature_profile.json")
    mlflow.log_text(profiles.to_csv(index=False), "segment_profiles.csv")


def _log_plots(folder: Path, sample: DataFrame, segments: Segments) -> None:
    import mlflow

    scan, model, order, names, profiles = (
        segments.scan,
        segments.kmeans,
        segments.order,
        segments.names,
        segments.profiles,
    )
    reports.elbow_plot(scan.ks, scan.inertia, scan.silhouette, scan.chosen, folder / "elbow_silhouette.png")
    projected = PCA(k=2, inputCol=features.FEATURES, outputCol="_pc").fit(sample).transform(model.transform(sample))
    local = projected.select(vector_to_array("_pc").alias("pc"), "prediction").toPandas()
    points = pd.DataFrame(
        {
            "pc1": local["pc"].str[0],
            "pc2": local["pc"].str[1],
            "segment": local["prediction"].map(order),
        }
    )
    reports.scatter_plot(points, names, folder / "segments_pca.png")
    z = profiles.pivot(index=SEGMENT_ID, columns="feature", values="z_score")
    z.index = [f"{s}: {names[s]}" for s in z.index]
    reports.heatmap_plot(z, folder / "profile_heatmap.png")
    mlflow.log_artifacts(str(folder), "plots")


def _log_model(
    model: PipelineModel, settings: Settings, name: str, rows: DataFrame, k: int, columns: dict[str, str]
) -> str:
    example = rows.limit(5).toPandas()
    output = model.transform(rows.limit(5)).select(SEGMENT_ID, SEGMENT_NAME).toPandas()
    tags = {tracking.INPUT_COLUMNS: json.dumps(columns)}
    return tracking.log_and_register(model, settings, name, example, output, {"k": k}, tags)


def _write_profiles(
    spark: SparkSession,
    table: str,
    profiles: pd.DataFrame,
    names: dict[int, str],
    name: str,
    version: str,
    run_id: str,
) -> None:
    rows = profiles.assign(
        segment_name=profiles[SEGMENT_ID].map(names), segmenter=name, segmenter_version=version, run_id=run_id
    )
    frame = spark.createDataFrame(rows).withColumn("trained_at", F.current_timestamp())
    # schema_mode="merge": a table written before profiles had `kind` gains the column (null in older versions).
    tables.write_table(
        frame,
        table,
        mode="overwrite_partitions",
        partition_by=["segmenter_version"],
        partition_values={"segmenter_version": version},
        schema_mode="merge",
    )
