"""Typed settings: the merged configuration, validated. Every parameter of every stage lives here."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    """A configuration section: unknown keys are errors, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid")


class ProjectSettings(_Section):
    name: str = "customer_ml"
    work_dir: str = "./work"
    reports_dir: str = "reports"


class SparkSettings(_Section):
    """When `master` is null the session is the submitter's (spark-submit, Databricks): nothing is overridden."""

    master: str | None = None
    app_name: str = "customer-ml"
    driver_memory: str | None = None
    shuffle_partitions: int | None = Field(default=None, ge=1)
    ui_enabled: bool = False
    log_level: Literal["ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"] = "WARN"
    conf: dict[str, str] = Field(default_factory=dict)


class LakeSettings(_Section):
    engine: Literal["auto", "spark", "delta-rs"] = "auto"
    root: str = "lakehouse"
    target_file_rows: int = Field(default=1_000_000, ge=1000)


class TableSettings(_Section):
    """One lake table: a path (relative to lake.root, or absolute / a URI) or a catalog name, not both."""

    path: str | None = None
    catalog_name: str | None = None
    partition_by: list[str] = Field(default_factory=list)
    description: str = ""


class MlflowSettings(_Section):
    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str = "customer_ml"


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(_Section):
    """The whole configuration. `env` and `conf_dir` are filled by the loader, not by YAML."""

    env: str = "local"
    conf_dir: str = ""
    project: ProjectSettings = Field(default_factory=ProjectSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    lake: LakeSettings = Field(default_factory=LakeSettings)
    tables: dict[str, TableSettings] = Field(default_factory=dict)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @property
    def work_dir(self) -> Path:
        """The folder every local artefact goes under (warehouse, checkpoints, reports, default lake and MLflow)."""
        return Path(self.project.work_dir).expanduser().resolve()

    @property
    def reports_dir(self) -> Path:
        return self.work_dir / self.project.reports_dir

    @property
    def lake_root(self) -> str:
        """lake.root as an absolute path or URI; a relative path is taken under the work dir."""
        return resolve_location(self.lake.root, self.work_dir)

    @property
    def tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"sqlite:///{self.work_dir / 'mlflow.db'}"


def is_uri(location: str) -> bool:
    """True for `s3://…`, `abfss://…`, `dbfs:/…`, `file:/…`: anything with a scheme rather than a local path."""
    head = location.split("/", 1)[0]
    return head.endswith(":") and len(head) > 2


def resolve_location(location: str, base: Path | str) -> str:
    """An absolute path or URI stays; a relative path is joined to `base`."""
    if is_uri(location) or Path(location).expanduser().is_absolute():
        return location if is_uri(location) else str(Path(location).expanduser())
    if is_uri(str(base)):
        return f"{str(base).rstrip('/')}/{location}"
    return str((Path(base) / location).resolve())
