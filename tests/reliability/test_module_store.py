"""Issue 13 item 14: each test module has an MLflow store of its own (conftest.module_tracking_uri, used by the
synthetic_lake fixture), so no module finds another's models and the order modules run in changes nothing.
tests/integration/test_scoring.py checks the same in use: its champions are the ones it trained."""

from __future__ import annotations

from mlflow import MlflowClient


def test_this_module_starts_with_an_empty_store_of_its_own(module_tracking_uri: str) -> None:
    assert module_tracking_uri.startswith("sqlite:///") and "/mlflow-test_module_store" in module_tracking_uri
    registry = MlflowClient(tracking_uri=module_tracking_uri)
    assert registry.search_registered_models() == []  # whatever other modules registered before this one
    registry.create_registered_model("only_here")
    assert [m.name for m in registry.search_registered_models()] == ["only_here"]
