"""train-segmenter end to end on the validated synthetic base: planted segments recovered, MLflow, profiles."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient
from pyspark.sql import SparkSession
from sklearn.metrics import adjusted_rand_score

from customer_ml import lake, segmenter
from tests.conftest import SyntheticLake, assert_recorded_input

pytestmark = pytest.mark.slow


def test_planted_segments_are_found_named_and_registered(spark: SparkSession, synthetic_lake: SyntheticLake) -> None:
    import mlflow

    settings = synthetic_lake.settings
    result = segmenter.run(spark, settings)
    planted = len(settings.synthetic.segments)
    assert result.k == planted
    assert result.scan.ks == [2, 3, 4, 5, 6]
    assert result.stability is not None and result.stability >= settings.segmenter.stability.min_ari

    client = MlflowClient(tracking_uri=settings.tracking_uri)
    name = "customer_ml_segmenter"
    assert str(client.get_model_version_by_alias(name, "challenger").version) == result.version
    recorded = json.loads(client.get_model_version(name, result.version).tags["input_columns"])
    assert set(recorded) == set(result.profiles.query("kind == 'numeric'")["feature"])  # what it reads, no more
    assert set(recorded) <= set(settings.segmenter.features.include)
    assert recorded["savings_balance"] == "double" and recorded["num_products"] == "int"
    mlflow.set_tracking_uri(settings.tracking_uri)
    model = mlflow.spark.load_model(f"models:/{name}@challenger")
    assigned = model.transform(lake.read_table(spark, "customers_validated")).select(
        "customer_id", "segment_id", "segment_name"
    )
    truth = lake.read_table(spark, "customers_truth").select("customer_id", "true_segment")
    both = assigned.join(truth, "customer_id").toPandas()
    assert len(both) == lake.read_table(spark, "customers_validated").count()
    assert adjusted_rand_score(both["true_segment"], both["segment_id"]) >= 0.8
    # The model itself carries ids (0 = largest) and names.
    sizes = both["segment_id"].value_counts()
    assert list(sizes.index) == sorted(sizes.index)
    assert dict(both.drop_duplicates("segment_id")[["segment_id", "segment_name"]].values) == result.names

    run = client.get_run(result.run_id)
    assert run.data.metrics["k"] == planted
    assert_recorded_input(run, "customers_validated", result.input_version)
    assert run.data.metrics["stability_ari"] == pytest.approx(result.stability)
    assert [m.step for m in client.get_metric_history(result.run_id, "inertia")] == [2, 3, 4, 5, 6]
    assert len(client.get_metric_history(result.run_id, "silhouette_by_k")) == 5
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {"plots/elbow_silhouette.png", "plots/segments_pca.png", "plots/profile_heatmap.png"}
    assert {a.path for a in client.list_artifacts(result.run_id)} >= {"segment_profiles.csv", "segment_names.json"}

    profiles = lake.read_table(spark, "segment_profiles").toPandas()
    mine = profiles[profiles["segmenter_version"] == result.version]
    features_profiled = mine["feature"].nunique()
    assert len(mine) == planted * features_profiled
    assert mine.drop_duplicates("segment_id")["share"].sum() == pytest.approx(1.0)
    assert dict(mine.drop_duplicates("segment_id")[["segment_id", "segment_name"]].values) == result.names

    # A fixed k is honoured, and the same seed gives the same segments and names.
    selection = settings.segmenter.selection.model_copy(update={"k": planted})
    fixed = settings.model_copy(update={"segmenter": settings.segmenter.model_copy(update={"selection": selection})})
    again = segmenter.run(spark, fixed)
    assert again.scan.ks == [planted] and again.k == planted
    assert again.names == result.names
    assert again.silhouette == pytest.approx(result.silhouette)
    assert again.promotion.promoted  # same silhouette: not worse than the champion's by more than the margin
    versions = set(lake.read_table(spark, "segment_profiles").toPandas()["segmenter_version"])
    assert {result.version, again.version} <= versions
