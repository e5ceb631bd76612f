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

from __future__ import annotations

import itertools
import json
import logging
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans, KMeansModel
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import PCA, SQLTransformer
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_ml import features, reports, tracking
from customer_ml.errors import ConfigError
from customer_ml.lake import tables
from customer_ml.logs import job_context, stage
from customer_ml.settings import KSelectionSpec, SegmenterSettings, Settings

logger = logging.getLogger(__name__)

KIND = "segmenter"
CLUSTER = "_cluster"
SEGMENT_ID = "segment_id"
SEGMENT_NAME = "segment_name"
PROFILE_COLUMNS = [
    SEGMENT_ID,
    "feature",
    "kind",
    "size",
    "share",
    "mean",
    "median",
    "population_mean",
    "population_sd",
    "z_score",
]


@dataclass
class KScan:
    """Inertia and silhouette for every k tried, the elbow, and the k the rule chose."""

    ks: list[int]
    inertia: list[float]
    silhouette: list[float]
    elbow: int
    chosen: int


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


def run(spark: SparkSession, settings: Settings, table: str | None = None) -> SegmentResult:
    """Fit, profile, name, log and register the segmenter on `table` (default `data.table`)."""
    import mlflow

    config, data = settings.segmenter, settings.data
    source = table or data.table
    spec = config.features.model_copy(update={"scale": True})
    started = time.perf_counter()
    with job_context(job="train-segmenter"), stage("train-segmenter") as log:
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
            .repartition(spark.sparkContext.defaultParallelism)
            .cache()
        )
        total = log.count("input", vectors.count())
        fit_rows = _sample(vectors, config.fit_sample_rows, total, config.seed).cache()
        fitted_on = log.count("fit sample", fit_rows.count())
        sample = _sample(fit_rows, config.selection.silhouette_sample_rows, fitted_on, config.seed).cache()

        models, scan = scan_k(fit_rows, sample, config)
        kmeans = models[scan.chosen]
        stability = stability_ari(fit_rows, kmeans, config, fitted_on)
        if stability is not None and stability < config.stability.min_ari:
            logger.warning(
                "segmenter stability: mean adjusted Rand index %.3f < %.2f (segmenter.stability.min_ari): the "
                "segments change between refits; consider another k or features",
                stability,
                config.stability.min_ari,
            )
        assigned = kmeans.transform(vectors).withColumnRenamed("prediction", CLUSTER)
        order = _order_by_size(assigned)
        profiled = rows.join(assigned.select(data.id_column, CLUSTER), data.id_column).withColumn(
            SEGMENT_ID, _relabel(order)
        )
        numeric = [c for c in profile.numeric if c in rows.columns or c in spec.derived]
        categorical = [c for c in profile.categorical if c in rows.columns or c in spec.derived]
        profiled = features.derive(profiled, spec) if spec.derived else profiled
        # The profiles aggregate three times (per segment, population, levels): cache the join's narrow result once.
        profiled = profiled.select(SEGMENT_ID, *[F.col(features.quote(c)) for c in [*numeric, *categorical]]).cache()
        profiles = segment_profiles(profiled, SEGMENT_ID, numeric, categorical, config.profile_levels)
        profiled.unpersist()
        names = name_segments(profiles, config)
        model = PipelineModel(stages=[*feature_model.stages, kmeans, _label_stage(order, names)])
        silhouette = scan.silhouette[scan.ks.index(scan.chosen)]

        tracking.configure(settings)
        name = tracking.model_name(settings, KIND)
        with mlflow.start_run(run_name=f"train-segmenter {source}") as active:
            run_id = active.info.run_id
            with job_context(run_id=run_id):
                _log_run(settings, source, input_version, profile, scan, stability, silhouette, names, profiles)
                with tempfile.TemporaryDirectory() as folder:
                    _log_plots(Path(folder), scan, sample, kmeans, order, names, profiles)
                columns = features.input_columns(spec, profile, rows.schema)
                version = _log_model(model, settings, name, rows, scan.chosen, columns)
                same_rows = rows.join(sample.select(data.id_column), data.id_column)
                evaluator = ClusteringEvaluator(featuresCol=features.FEATURES, predictionCol="prediction")
                champion_silhouette, champion = tracking.champion_figure(
                    settings, name, version, lambda old: evaluator.evaluate(old.transform(same_rows))
                )
                decision = decide(silhouette, stability, champion_silhouette, champion, config)
                tracking.record_promotion(settings, name, version, decision, "silhouette")
                _write_profiles(spark, config.profiles_table, profiles, names, name, version, run_id)
        for frame in (vectors, fit_rows, sample):
            frame.unpersist()
    return SegmentResult(
        run_id=run_id,
        model_name=name,
        version=version,
        k=scan.chosen,
        scan=scan,
        stability=stability,
        silhouette=silhouette,
        names=names,
        profiles=profiles,
        promotion=decision,
        input_table=source,
        input_version=input_version,
        seconds=time.perf_counter() - started,
    )


def kmeans(k: int, config: SegmenterSettings, seed: int | None = None) -> KMeans:
    return KMeans(
        k=k,
        seed=config.seed if seed is None else seed,
        maxIter=config.max_iter,
        featuresCol=features.FEATURES,
        predictionCol="prediction",
        initSteps=2,
        tol=1e-4,
    )


def fit_best(vectors: DataFrame, k: int, config: SegmenterSettings, seed: int, pool: ThreadPoolExecutor) -> KMeansModel:
    """KMeans from `n_init` seeds, the lowest inertia kept: one k-means|| start lands in a poor local optimum
    (inertia ~10% higher, ARI ~0.4 against the others) about one time in six on the synthetic base."""
    starts = list(pool.map(lambda i: kmeans(k, config, seed=seed + 7919 * i).fit(vectors), range(config.n_init)))
    return min(starts, key=lambda model: model.summary.trainingCost)


def scan_k(vectors: DataFrame, sample: DataFrame, config: SegmenterSettings) -> tuple[dict[int, KMeansModel], KScan]:
    """Fit every k of the range (or only the fixed k): inertia on all rows, silhouette on the sample."""
    spec = config.selection
    ks = [spec.k] if spec.k is not None else list(range(spec.k_min, spec.k_max + 1))
    evaluator = ClusteringEvaluator(featuresCol=features.FEATURES, predictionCol="prediction")
    # KMeans caches its own vectors only when its input is not cached; on a cached DataFrame it re-reads and
    # re-decodes the columnar cache every iteration (2x slower). A projection of the cache is "not cached".
    rows = vectors.select("*", F.lit(0).alias("_fit"))
    # Each KMeans iteration is a small Spark job: fitting several starts at once keeps the cores busy.
    with stage(f"kmeans k={ks[0]}..{ks[-1]}"), ThreadPoolExecutor(max_workers=config.parallelism) as pool:
        models = {k: fit_best(rows, k, config, config.seed, pool) for k in ks}
        inertia = [float(models[k].summary.trainingCost) for k in ks]
        silhouette = list(pool.map(lambda k: float(evaluator.evaluate(models[k].transform(sample))), ks))
    for k, cost, sil in zip(ks, inertia, silhouette, strict=True):
        logger.info("k=%d: inertia %.1f, silhouette %.4f", k, cost, sil)
    elbow = elbow_k(ks, inertia)
    chosen = spec.k if spec.k is not None else choose_k(ks, inertia, silhouette, spec)
    logger.info("k chosen: %d (rule %s; elbow %d)", chosen, "fixed" if spec.k else spec.rule, elbow)
    return models, KScan(ks, inertia, silhouette, elbow, chosen)


def elbow_k(ks: list[int], inertia: list[float]) -> int:
    """The k whose point is farthest from the straight line (chord) joining the first and last points of the
    inertia curve, both axes scaled to [0, 1]. With fewer than three ks, the first."""
    if len(ks) < 3:
        return ks[0]
    x = (np.array(ks, dtype=float) - ks[0]) / (ks[-1] - ks[0])
    span = inertia[0] - inertia[-1]
    y = (np.array(inertia) - inertia[-1]) / span if span else np.zeros(len(ks))
    # The chord runs from (0, 1) to (1, 0): distance of (x, y) to x + y - 1 = 0.
    distance = np.abs(x + y - 1) / np.sqrt(2)
    return ks[int(np.argmax(distance))]


def choose_k(ks: list[int], inertia: list[float], silhouette: list[float], spec: KSelectionSpec) -> int:
    """elbow: the elbow; silhouette: the best silhouette (smaller k on ties); combined: the elbow when its
    silhouette reaches `min_silhouette` (the segments are real, not cuts through one cloud), else the best
    silhouette. Silhouette alone favours k = 2 on most customer data, too coarse for marketing."""
    elbow = elbow_k(ks, inertia)
    best = ks[silhouette.index(max(silhouette))]
    if spec.rule == "elbow":
        return elbow
    if spec.rule == "silhouette":
        return best
    return elbow if silhouette[ks.index(elbow)] >= spec.min_silhouette else best


def stability_ari(vectors: DataFrame, model: KMeansModel, config: SegmenterSettings, total: int) -> float | None:
    """Mean adjusted Rand index between the chosen model and `runs` refits on bootstrap samples (other seeds),
    all labelling the same sample of rows; plus every pair of refits."""
    from sklearn.metrics import adjusted_rand_score

    spec = config.stability
    if spec.runs == 0:
        return None
    probe = _sample(vectors, spec.sample_rows, total, config.seed + 1000).cache()
    labelings = [_labels(model, probe)]
    with stage("stability"), ThreadPoolExecutor(max_workers=config.parallelism) as pool:
        for run_number in range(1, spec.runs + 1):
            boot = vectors.sample(withReplacement=True, fraction=1.0, seed=config.seed + run_number)
            refit = fit_best(boot, model.getK(), config, config.seed + 97 * run_number, pool)
            labelings.append(_labels(refit, probe))
    probe.unpersist()
    scores = [adjusted_rand_score(a, b) for a, b in itertools.combinations(labelings, 2)]
    mean = float(np.mean(scores))
    logger.info("stability: mean adjusted Rand index %.4f over %d pairs of fits", mean, len(scores))
    return mean


def segment_profiles(
    frame: DataFrame,
    segment: str,
    columns: Sequence[str],
    categorical: Sequence[str] = (),
    max_levels: int | None = None,
) -> pd.DataFrame:
    """Per segment, the numeric features' rows (`numeric_profiles`) then the categorical levels' (`level_profiles`),
    one table so both rank together by z.

    Args:
        frame: one row per customer: `segment` and the feature columns.
        segment: the segment id column.
        columns: numeric feature columns.
        categorical: categorical feature columns.
        max_levels: levels kept per categorical column, the most frequent in the population (None: all).

    Returns:
        `PROFILE_COLUMNS`, ordered by segment id; `size` and `share` are the segment's on every row.
    """
    parts = [
        *([numeric_profiles(frame, segment, columns)] if columns else []),
        *([level_profiles(frame, segment, categorical, max_levels)] if categorical else []),
    ]
    if not parts:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(SEGMENT_ID, kind="stable", ignore_index=True)


def numeric_profiles(frame: DataFrame, segment: str, columns: Sequence[str]) -> pd.DataFrame:
    """One row per segment and feature: segment size and share, the feature's mean and median in the segment,
    the population mean and standard deviation, and z = (segment mean - population mean) / population sd."""
    quoted = {c: F.col(features.quote(c)).cast("double") for c in columns}
    per_segment = (
        frame.groupBy(segment)
        .agg(
            F.count(F.lit(1)).alias("_size"),
            *[F.mean(v).alias(f"mean_{i}") for i, v in enumerate(quoted.values())],
            *[F.median(v).alias(f"median_{i}") for i, v in enumerate(quoted.values())],
        )
        .toPandas()
    )
    population = frame.agg(
        *[F.mean(v).alias(f"mean_{i}") for i, v in enumerate(quoted.values())],
        *[F.stddev_pop(v).alias(f"sd_{i}") for i, v in enumerate(quoted.values())],
    ).first()
    total = float(per_segment["_size"].sum())
    records = []
    for values in per_segment.sort_values(segment).to_dict("records"):
        for i, column in enumerate(columns):
            mean, sd = population[f"mean_{i}"], population[f"sd_{i}"]
            segment_mean = values[f"mean_{i}"]
            z = (segment_mean - mean) / sd if sd and segment_mean is not None else 0.0
            records.append(
                {
                    SEGMENT_ID: int(values[segment]),
                    "feature": column,
                    "kind": "numeric",
                    "size": int(values["_size"]),
                    "share": values["_size"] / total,
                    "mean": segment_mean,
                    "median": values[f"median_{i}"],
                    "population_mean": mean,
                    "population_sd": sd,
                    "z_score": float(z),
                }
            )
    return pd.DataFrame.from_records(records, columns=PROFILE_COLUMNS)


def level_profiles(
    frame: DataFrame, segment: str, columns: Sequence[str], max_levels: int | None = None
) -> pd.DataFrame:
    """One row per segment and level of each categorical column, feature "<column>=<level>" (a null is the level
    `features.NULL_LEVEL`, as in the model): the level's share in the segment (`mean`) and in the population
    (`population_mean`), the population sd of its 0/1 indicator sqrt(p (1 - p)) and z = (segment share -
    population share) / that sd, the numeric features' z of the indicator. Only the `max_levels` levels of each
    column most frequent in the population are kept (ties by level). One Spark aggregation: level counts per
    segment, every column at once."""
    cells = F.array(
        *[
            F.struct(
                F.lit(c).alias("column"),
                F.coalesce(F.col(features.quote(c)).cast("string"), F.lit(features.NULL_LEVEL)).alias("level"),
            )
            for c in columns
        ]
    )
    counts = (
        frame.select(F.col(segment).alias("_segment"), F.inline(cells))
        .groupBy("_segment", "column", "level")
        .agg(F.count(F.lit(1)).alias("_rows"))
        .toPandas()
    )
    # Every row has one level of every column: the first column's counts add up to the segment sizes.
    sizes = counts[counts["column"] == columns[0]].groupby("_segment")["_rows"].sum()
    total = float(sizes.sum())
    population = (
        counts.groupby(["column", "level"], as_index=False)["_rows"]
        .sum()
        .assign(share=lambda levels: levels["_rows"] / total)
        .sort_values(["column", "share", "level"], ascending=[True, False, True])
    )
    kept = population.groupby("column").head(max_levels) if max_levels is not None else population
    observed = counts.set_index(["_segment", "column", "level"])["_rows"].to_dict()
    records = []
    for segment_id, size in sorted(sizes.items()):
        for column in columns:
            for level, share in kept.loc[kept["column"] == column, ["level", "share"]].itertuples(False):
                in_segment = observed.get((segment_id, column, level), 0) / size
                sd = float(np.sqrt(share * (1.0 - share)))
                records.append(
                    {
                        SEGMENT_ID: int(segment_id),
                        "feature": f"{column}={level}",
                        "kind": "categorical",
                        "size": int(size),
                        "share": size / total,
                        "mean": in_segment,
                        "median": float("nan"),
                        "population_mean": share,
                        "population_sd": sd,
                        "z_score": (in_segment - share) / sd if sd else 0.0,
                    }
                )
    return pd.DataFrame.from_records(records, columns=PROFILE_COLUMNS)


def name_segments(profiles: pd.DataFrame, config: SegmenterSettings) -> dict[int, str]:
    """A name per segment from its most distinguishing features ("High savings balance · Mostly region north"):
    the `name_features` largest |z| at least `name_min_z`, numeric features and categorical levels alike, ties
    broken by feature name; segments whose names would repeat get more features until they differ.
    `segmenter.names` overrides by segment id."""
    ranked: dict[int, list[tuple[str, str, float]]] = {}
    for segment, group in profiles.groupby(SEGMENT_ID):
        ordered = group.assign(absz=group["z_score"].abs()).sort_values(["absz", "feature"], ascending=[False, True])
        ranked[int(segment)] = [
            (row.feature, row.kind, row.z_score)
            for row in ordered.itertuples()
            if abs(row.z_score) >= config.name_min_z
        ]
    names: dict[int, str] = {}
    width = config.name_features
    for segment, terms in ranked.items():
        names[segment] = _phrase(terms[:width])
    for extra in range(width + 1, width + 4):
        repeated = {n for n in names.values() if list(names.values()).count(n) > 1}
        if not repeated:
            break
        for segment in [s for s, n in names.items() if n in repeated]:
            names[segment] = _phrase(ranked[segment][:extra])
    seen: dict[str, int] = {}
    for segment in sorted(names):
        seen[names[segment]] = seen.get(names[segment], 0) + 1
        if seen[names[segment]] > 1:
            names[segment] = f"{names[segment]} ({seen[names[segment]]})"
    unknown = [s for s in config.names if s not in names]
    if unknown:
        raise ConfigError(f"segmenter.names: segment ids {unknown} do not exist (ids: {sorted(names)})")
    return {**names, **config.names}


def decide(
    silhouette: float,
    stability: float | None,
    champion_silhouette: float | None,
    champion: str | None,
    config: SegmenterSettings,
) -> tracking.Promotion:
    """Champion when there is none, or when silhouette >= champion's - margin; never when unstable."""
    if stability is not None and stability < config.stability.min_ari:
        reason = f"stability {stability:.3f} < min_ari {config.stability.min_ari}"
        return tracking.Promotion(False, reason, silhouette, champion_silhouette, champion)
    # "not worse by more than the margin" is "beats by at least -margin".
    return tracking.decide_promotion(silhouette, champion_silhouette, -config.promotion.silhouette_margin, champion)


def _phrase(terms: list[tuple[str, str, float]]) -> str:
    if not terms:
        return "Typical"
    return " · ".join(_term(feature, kind, z) for feature, kind, z in terms)


def _term(feature: str, kind: str, z: float) -> str:
    """A numeric feature reads "High savings balance" / "Low …", a level "Mostly region north" / "Few …" (the null
    level "missing")."""
    if kind == "categorical":
        column, _, level = feature.partition("=")
        shown = "missing" if level == features.NULL_LEVEL else level
        return f"{'Mostly' if z > 0 else 'Few'} {column.replace('_', ' ')} {shown}"
    return f"{'High' if z > 0 else 'Low'} {feature.replace('_', ' ')}"


def _sample(frame: DataFrame, rows: int, total: int, seed: int) -> DataFrame:
    return frame if total <= rows else frame.sample(fraction=min(1.0, 1.1 * rows / total), seed=seed).limit(rows)


def _labels(model: KMeansModel, probe: DataFrame) -> np.ndarray:
    id_column = probe.columns[0]
    local = model.transform(probe).select(id_column, "prediction").orderBy(id_column).toPandas()
    return local["prediction"].to_numpy()


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
    profile: features.FeatureProfile,
    scan: KScan,
    stability: float | None,
    silhouette: float,
    names: dict[int, str],
    profiles: pd.DataFrame,
) -> None:
    import mlflow

    tracking.log_params(
        {
            "data": settings.data.model_dump(),
            "segmenter": settings.segmenter.model_dump(mode="json"),
            "input": {"table": source, "version": input_version},
            "k_chosen": scan.chosen,
            "k_elbow": scan.elbow,
        }
    )
    mlflow.set_tags({"stage": "train-segmenter", "input.table": source, "git_commit": tracking.git_commit() or ""})
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
    mlflow.log_dict(profile.as_dict(), "feature_profile.json")
    mlflow.log_text(profiles.to_csv(index=False), "segment_profiles.csv")


def _log_plots(
    folder: Path,
    scan: KScan,
    sample: DataFrame,
    model: KMeansModel,
    order: dict[int, int],
    names: dict[int, str],
    profiles: pd.DataFrame,
) -> None:
    import mlflow

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
