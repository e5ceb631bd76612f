"""How well customers fit their segments: each row's distance to the centre of the segment it was assigned to.

Training logs the mean over its rows (`mean_centroid_distance`); `customer-ml monitor` computes the same on a score
date's customers. When the ratio grows, customers sit farther from the centres than the segments were made for:
time to re-cluster. Spark SQL array functions only (no Python UDF), so it runs at the speed of a scan.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeansModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_ml.errors import MonitoringError


def centroid_distance(centres: Sequence[np.ndarray], features_col: str, cluster_col: str) -> Column:
    """Euclidean distance of a row's feature vector to the centre of its cluster (cluster index into `centres`)."""
    table = F.array(*[F.array(*[F.lit(float(v)) for v in centre]) for centre in centres])
    centre = F.element_at(table, F.col(cluster_col) + F.lit(1))
    squares = F.zip_with(vector_to_array(F.col(features_col)), centre, lambda a, b: (a - b) * (a - b))
    return F.sqrt(F.aggregate(squares, F.lit(0.0), lambda total, x: total + x))


def mean_distance(assigned: DataFrame, kmeans: KMeansModel, cluster_col: str) -> float:
    """Mean distance to the assigned centre over rows that carry the model's features column and a cluster index."""
    distance = centroid_distance(kmeans.clusterCenters(), kmeans.getFeaturesCol(), cluster_col)
    return float(assigned.agg(F.avg(distance)).first()[0])


def model_fit(model: PipelineModel, rows: DataFrame) -> float:
    """Mean distance to the assigned centre of `rows` through a registered segmenter (features, KMeans, names)."""
    stages = model.stages
    found = [i for i, stage in enumerate(stages) if isinstance(stage, KMeansModel)]
    if not found:
        raise MonitoringError("the segmenter model has no KMeans stage: it cannot be checked for fit")
    kmeans = stages[found[0]]
    assigned = PipelineModel(stages=stages[: found[0] + 1]).transform(rows)
    return mean_distance(assigned, kmeans, kmeans.getPredictionCol())
