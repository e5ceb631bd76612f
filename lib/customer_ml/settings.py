"""Typed settings: the merged configuration, validated. Every parameter of every stage lives here."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from customer_ml.errors import ConfigError


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


# A table name is a SQL identifier: it names a folder under lake.root and the view `sql` registers.
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class LakeSettings(_Section):
    """Where tables live. `catalog` (`catalog.schema`, e.g. main.customer_ml) puts every table without a
    `catalog_name` of its own in that catalog and schema under its own name: Unity Catalog on Databricks."""

    engine: Literal["auto", "spark", "delta-rs"] = "auto"
    root: str = "lakehouse"
    catalog: str | None = None
    target_file_rows: int = Field(default=1_000_000, ge=1000)
    vacuum_retain_hours: int = Field(default=168, ge=0)
    offline_merge_max_rows: int = Field(default=2_000_000, ge=1)

    @field_validator("catalog")
    @classmethod
    def _catalog_and_schema(cls, catalog: str | None) -> str | None:
        if catalog is None:
            return None
        parts = catalog.split(".")
        if len(parts) != 2 or not all(TABLE_NAME.fullmatch(part) for part in parts):
            raise ValueError(
                f"'{catalog}' is not catalog.schema: give two names of letters, digits and _ joined by a dot, e.g. "
                "main.customer_ml (a table elsewhere gets tables.<name>.catalog_name)"
            )
        return catalog


class TableSettings(_Section):
    """One lake table: a path (relative to lake.root, or absolute / a URI) or a catalog name, not both."""

    path: str | None = None
    catalog_name: str | None = None
    partition_by: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("path")
    @classmethod
    def _inside_the_root(cls, path: str | None) -> str | None:
        """A relative path stays under lake.root: `../x` would write beside the lake, silently. An absolute path
        or a URI puts a table elsewhere on purpose."""
        if path is None or is_uri(path) or path.startswith("~") or Path(path).is_absolute():
            return path
        normal = posixpath.normpath(path.replace("\\", "/"))
        if normal == "." or normal == ".." or normal.startswith("../"):
            raise ValueError(
                f"'{path}' leaves lake.root; give a path under it (e.g. {Path(path).name or 'name'}), or an absolute "
                "path or URI to put the table elsewhere on purpose"
            )
        return path


class MlflowSettings(_Section):
    tracking_uri: str | None = None
    registry_uri: str | None = None
    experiment: str | None = None  # null: the project's name, so two projects' runs do not mix


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class SegmentSpec(_Section):
    weight: float = Field(gt=0)
    factors: dict[str, float] = Field(default_factory=dict)


class ColumnSpec(_Section):
    """One synthetic column; which keys apply depends on `kind` (see conf/base/synthetic.yml)."""

    kind: Literal["normal", "lognormal", "categorical", "binary", "expression"]
    mean: float | None = None
    sd: float | None = Field(default=None, gt=0)
    median: float | None = Field(default=None, gt=0)
    sigma: float | None = Field(default=None, gt=0)
    p: float | None = Field(default=None, gt=0, lt=1)
    values: dict[str, float] | None = None
    sql: str | None = None
    min: float | None = None
    max: float | None = None
    integer: bool = False
    round: float | None = Field(default=None, gt=0)
    zero_share: float = Field(default=0.0, ge=0, lt=1)
    missing: float = Field(default=0.0, ge=0, lt=1)
    loadings: dict[str, float] = Field(default_factory=dict)
    by_segment: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _parameters_for_kind(self) -> ColumnSpec:
        needed = {
            "normal": ("mean", "sd"),
            "lognormal": ("median", "sigma"),
            "categorical": ("values",),
            "binary": ("p",),
            "expression": ("sql",),
        }[self.kind]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(f"kind {self.kind} needs {', '.join(missing)}")
        if sum(v * v for v in self.loadings.values()) >= 1 and self.kind in ("normal", "lognormal"):
            raise ValueError("the squares of loadings must sum to less than 1 (they share the column's variance)")
        return self


class LabelSpec(_Section):
    name: str = "label"
    positive_rate: float = Field(default=0.12, gt=0, lt=1)
    terms: dict[str, float] = Field(default_factory=dict)


class FaultSpec(_Section):
    rate: float = Field(ge=0, le=0.5)
    columns: list[str] = Field(default_factory=list)
    column: str | None = None
    values: list[float] = Field(default_factory=list)
    value: str | None = None
    factor: float | None = None
    floor: float | None = None


class DriftColumn(_Section):
    scale: float = 1.0
    add: float = 0.0


class DriftSpec(_Section):
    segment_weights: dict[str, float] = Field(default_factory=dict)
    columns: dict[str, DriftColumn] = Field(default_factory=dict)


FaultName = Literal[
    "null_required", "negative_balance", "impossible_age", "duplicate_id", "unknown_category", "outlier"
]


class SyntheticSettings(_Section):
    """The synthetic customer base: schema, distributions, planted segments, label model, faults, drift."""

    table: str = "customers"
    truth_table: str = "customers_truth"
    rows: int = Field(default=100_000, ge=1)
    seed: int = 42
    partitions: int | None = Field(default=None, ge=1)
    id_column: str = "id"
    id_format: str = "%09d"
    factors: list[str] = Field(default_factory=list)
    factor_sd: float = Field(default=1.0, gt=0)
    segments: dict[str, SegmentSpec] = Field(default_factory=dict)
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    label: LabelSpec = Field(default_factory=LabelSpec)
    faults: dict[FaultName, FaultSpec] = Field(default_factory=dict)
    drift: DriftSpec = Field(default_factory=DriftSpec)

    @model_validator(mode="after")
    def _names_are_known(self) -> SyntheticSettings:
        problems = []
        for name, segment in self.segments.items():
            problems += [
                f"segments.{name}.factors.{f}: unknown factor" for f in segment.factors if f not in self.factors
            ]
        for name, column in self.columns.items():
            problems += [
                f"columns.{name}.loadings.{f}: unknown factor" for f in column.loadings if f not in self.factors
            ]
            problems += [
                f"columns.{name}.by_segment.{s}: unknown segment" for s in column.by_segment if s not in self.segments
            ]
        for name, fault in self.faults.items():
            problems += [
                f"faults.{name}: unknown column {c}"
                for c in [*fault.columns, *filter(None, [fault.column])]
                if c not in self.columns
            ]
        problems += [
            f"drift.segment_weights.{s}: unknown segment" for s in self.drift.segment_weights if s not in self.segments
        ]
        problems += [f"drift.columns.{c}: unknown column" for c in self.drift.columns if c not in self.columns]
        if problems:
            raise ValueError("; ".join(problems) + f" (factors: {self.factors}, segments: {list(self.segments)})")
        return self


class SourceSpec(_Section):
    """One ingest source: where and how to read it, then column renames and casts."""

    format: Literal["csv", "parquet", "delta", "json"]
    path: str
    table: str | None = None  # the table this source goes to (default ingest.table); sources of a table are joined
    options: dict[str, str | int | float | bool] = Field(default_factory=dict)
    rename: dict[str, str] = Field(default_factory=dict)
    casts: dict[str, str] = Field(default_factory=dict)
    columns: list[str] | None = None


class IngestSettings(_Section):
    """`customer-ml ingest`: per target table, its sources joined on `key` (the first source is the base).

    A source goes to `table` unless it names its own `table` (e.g. the rows to score, ingested beside the
    training rows). `key` defaults to `data.id_column`."""

    table: str = "customers"
    key: str | None = None
    mode: Literal["overwrite", "merge"] = "overwrite"
    join: Literal["inner", "left", "full"] = "left"
    sources: dict[str, SourceSpec] = Field(default_factory=dict)


class ExpectationSpec(_Section):
    """One GX 1.x expectation by its GX name (e.g. expect_column_values_to_not_be_null) and keyword arguments."""

    expectation: str
    kwargs: dict[str, Any] = Field(default_factory=dict)
    severity: Literal["error", "warn", "quarantine"] = "error"


class SuiteSpec(_Section):
    """The validation suite of one table: required columns with their Spark types, then expectations."""

    key: str | None = None
    schema_: dict[str, str] = Field(default_factory=dict, alias="schema")
    expectations: list[ExpectationSpec] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ValidationSettings(_Section):
    """Suites per table. A table without one gets the generic checks (rows > 0, key present and unique).
    `non_finite`: what NaN / ±Infinity in any float or double column does (every table, with a suite or not).
    `unexpected_examples`: failing values GX lists per expectation in its results and Data Docs; each list is one
    more pass over the table, so 0 (none: the quarantine table holds the failing rows) is the default."""

    results_table: str = "validation_results"
    non_finite: Literal["quarantine", "error", "warn", "off"] = "quarantine"
    unexpected_examples: int = Field(default=0, ge=0, le=200)
    suites: dict[str, SuiteSpec] = Field(default_factory=dict)


class LabelColumn(_Section):
    """The label: a column and the value that means positive (a string or a number)."""

    column: str
    positive: str | int | float | bool = 1


class DataSpec(_Section):
    """The modelling table every model stage reads: its id column and, when it has one, its label."""

    table: str = "customers_validated"
    id_column: str | None = None
    label: LabelColumn | None = None

    def require_id(self) -> str:
        """The id column, or a one-line error saying how to set it."""
        if not self.id_column:
            raise ConfigError(
                "data.id_column is not set: name your table's customer id column in your overlay "
                "(`customer-ml init --source FILE --id COLUMN …` writes one)"
            )
        return self.id_column


class PcaSpec(_Section):
    """PCA after scaling: a fixed number of components, or the fewest reaching an explained variance."""

    components: int | None = Field(default=None, ge=1)
    variance: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _one_of(self) -> PcaSpec:
        if (self.components is None) == (self.variance is None):
            raise ValueError("set exactly one of components or variance")
        return self


class FeatureSpec(_Section):
    """Which columns become features and how (features.build_feature_pipeline reads this)."""

    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    categorical: list[str] | None = None
    numeric: list[str] | None = None
    derived: dict[str, str] = Field(default_factory=dict)
    log1p: list[str] | Literal["auto"] = Field(default_factory=list)
    skew_threshold: float = Field(default=2.0, gt=0)
    cap_quantiles: tuple[float, float] | None = (0.001, 0.999)
    max_correlation: float | None = Field(default=0.95, gt=0, le=1)
    scale: bool = False
    pca: PcaSpec | None = None
    profile_sample_rows: int = Field(default=200_000, ge=1000)

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        if self.cap_quantiles is not None:
            low, high = self.cap_quantiles
            if not 0 <= low < high <= 1:
                raise ValueError(f"cap_quantiles must be [low, high] with 0 <= low < high <= 1, got {low}, {high}")
        both = set(self.categorical or []) & set(self.numeric or [])
        if both:
            raise ValueError(f"columns listed as both categorical and numeric: {sorted(both)}")
        return self


class SplitSpec(_Section):
    train: float = Field(default=0.7, gt=0, lt=1)
    validation: float = Field(default=0.15, gt=0, lt=1)
    test: float = Field(default=0.15, gt=0, lt=1)
    seed: int = 7
    # Classes up to this many rows are cut exactly (ranked in one task); larger ones by a hash of (seed, id) alone,
    # with no sort: shares then deviate by about 1/sqrt(rows) (0.1 % at 1M), and no task grows with the table.
    exact_max_rows: int = Field(default=200_000, ge=0)
    # At most this many train rows (null: all of them). Beyond it the minority class keeps up to half the cap and
    # the majority is sampled by a second hash to fill the rest; validation and test rows always stay whole.
    # Holdout AUC is flat from 0.7M to 7M train rows on the bench, and the search's time then stops growing.
    max_train_rows: int | None = Field(default=1_000_000, ge=2)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        if abs(self.train + self.validation + self.test - 1) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, got {self.train + self.validation + self.test}")
        return self


class CandidateSpec(_Section):
    """One estimator: fixed params (Spark ML / xgboost names) and a grid searched on the validation rows."""

    enabled: bool = True
    params: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)


class ThresholdSpec(_Section):
    method: Literal["recall", "cost"] = "recall"
    target_recall: float = Field(default=0.8, gt=0, le=1)
    fp_cost: float = Field(default=1.0, ge=0)
    fn_cost: float = Field(default=5.0, ge=0)


class PromotionSpec(_Section):
    """A challenger becomes champion when none exists or when it beats the champion by `margin`."""

    margin: float = 0.0


class ClassifierSettings(_Section):
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    class_weight: Literal["balanced", "none"] | float = "balanced"
    candidates: dict[Literal["gbt", "logistic", "xgboost"], CandidateSpec] = Field(default_factory=dict)
    parallelism: int = Field(default=2, ge=1)
    threshold: ThresholdSpec = Field(default_factory=ThresholdSpec)
    promotion: PromotionSpec = Field(default_factory=PromotionSpec)
    importance_top: int = Field(default=20, ge=1)


class KSelectionSpec(_Section):
    """How k is chosen over `k_min..k_max` (README "Segmentation"): elbow, silhouette, or combined (the elbow
    when its silhouette reaches `min_silhouette`, else the best silhouette)."""

    k: int | None = Field(default=None, ge=2)
    k_min: int = Field(default=2, ge=2)
    k_max: int = Field(default=8, ge=2)
    rule: Literal["elbow", "silhouette", "combined"] = "combined"
    min_silhouette: float = Field(default=0.25, ge=-1, le=1)
    silhouette_sample_rows: int = Field(default=20_000, ge=100)

    @model_validator(mode="after")
    def _range(self) -> KSelectionSpec:
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must not exceed k_max ({self.k_max})")
        return self


class StabilitySpec(_Section):
    """Refits on bootstrap samples with other seeds; mean adjusted Rand index between their labelings."""

    runs: int = Field(default=3, ge=0)
    sample_rows: int = Field(default=10_000, ge=100)
    min_ari: float = Field(default=0.8, ge=-1, le=1)


class SegmentPromotionSpec(_Section):
    """Champion when none exists, or when silhouette >= champion's - margin and stability >= min_ari."""

    silhouette_margin: float = Field(default=0.02, ge=0)


class SegmenterSettings(_Section):
    features: FeatureSpec = Field(default_factory=FeatureSpec)
    selection: KSelectionSpec = Field(default_factory=KSelectionSpec)
    stability: StabilitySpec = Field(default_factory=StabilitySpec)
    seed: int = 1
    max_iter: int = Field(default=30, ge=1)
    fit_sample_rows: int = Field(default=100_000, ge=100)
    n_init: int = Field(default=3, ge=1)
    parallelism: int = Field(default=2, ge=1)
    profiles_table: str = "segment_profiles"
    name_features: int = Field(default=2, ge=1)
    name_min_z: float = Field(default=0.3, ge=0)
    profile_levels: int = Field(default=10, ge=1)
    names: dict[int, str] = Field(default_factory=dict)
    scatter_sample_rows: int = Field(default=5_000, ge=100)
    promotion: SegmentPromotionSpec = Field(default_factory=SegmentPromotionSpec)


class ScoringSettings(_Section):
    """`customer-ml score`: which tables it writes and the SQL views over them."""

    scored_table: str = "scored_customers"
    candidates_table: str = "upgrade_candidates"
    top_candidates: int = Field(default=100, ge=1)


class Levels(_Section):
    """A statistic's warn and alert levels (alert >= warn)."""

    warn: float = Field(ge=0)
    alert: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Levels:
        if self.alert < self.warn:
            raise ValueError(f"alert ({self.alert}) must be at least warn ({self.warn})")
        return self


class LabelsSettings(_Section):
    """Outcomes that arrive after scoring, to measure the classifier's quality per score date: a table with the
    customer id, the outcome and (optionally) the outcome's date.

    Without `date_column` every row of the table is an outcome of every score date. With it, an outcome counts
    for a score date when its date is after the score date and at most `horizon_days` later; the latest one per
    customer wins. A customer whose outcomes (on that latest date) disagree is left out."""

    table: str
    id_column: str | None = None  # null: data.id_column
    label_column: str | None = None  # null: data.label.column
    positive: str | int | float | bool | None = None  # null: data.label.positive (1 without a data.label)
    date_column: str | None = None
    horizon_days: int = Field(default=90, ge=1)

    def columns(self, data: DataSpec) -> tuple[str, str, str | int | float | bool]:
        """The id column, the outcome column and its positive value, the data spec's where not set here.

        Raises:
            ConfigError: a column is neither set here nor in `data`.
        """
        id_column = self.id_column or data.id_column
        label_column = self.label_column or (data.label.column if data.label else None)
        if not id_column:
            raise ConfigError(
                f"monitoring.labels.id_column is not set and neither is data.id_column: name the customer id "
                f"column of {self.table} in monitoring.labels.id_column"
            )
        if not label_column:
            raise ConfigError(
                f"monitoring.labels.label_column is not set and neither is data.label: name the outcome column "
                f"of {self.table} in monitoring.labels.label_column"
            )
        positive = self.positive
        if positive is None:
            positive = data.label.positive if data.label else LabelColumn.model_fields["positive"].default
        return id_column, label_column, positive


class PipelineTask(_Section):
    """One task of a pipeline: the stage it runs (default: the task's own name), the tasks it waits for, and when
    it runs: `always`, or `alert`: only when a task it depends on (a monitor) raised an alert."""

    stage: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    when: Literal["always", "alert"] = "always"


class PipelineSettings(_Section):
    """A pipeline: its tasks by name, a graph through `depends_on`. A plain list of stages is a chain."""

    tasks: dict[str, PipelineTask]

    @model_validator(mode="before")
    @classmethod
    def _chain(cls, value: Any) -> Any:
        if isinstance(value, list):
            return {"tasks": {name: {"depends_on": value[i - 1 : i]} for i, name in enumerate(value)}}
        if isinstance(value, dict) and isinstance(value.get("tasks"), dict):
            return {**value, "tasks": {name: task or {} for name, task in value["tasks"].items()}}
        return value


class MonitoringSettings(_Section):
    """`customer-ml monitor`: the tables it writes, what it compares, the levels that warn or alert, and where late
    outcomes are (`labels`; null: the classifier's quality is estimated from its calibrated scores)."""

    drift_table: str = "monitoring_drift"
    alerts_table: str = "monitoring_alerts"
    profile_table: str = "monitoring_profile"
    columns: list[str] = Field(default_factory=list)
    slices: list[str] = Field(default_factory=lambda: ["segment_name"])
    compare_slices: bool = True
    top_categories: int = Field(default=10, ge=1)
    psi: Levels = Field(default_factory=lambda: Levels(warn=0.1, alert=0.25))
    js: Levels = Field(default_factory=lambda: Levels(warn=0.1, alert=0.2))
    dataset_drift_share: float = Field(default=0.5, gt=0, le=1)
    segment_fit: Levels = Field(default_factory=lambda: Levels(warn=1.1, alert=1.25))
    segment_fit_sample_rows: int = Field(default=200_000, ge=1_000)
    quality_drop: Levels = Field(default_factory=lambda: Levels(warn=0.02, alert=0.05))
    labels: LabelsSettings | None = None
    experiment: str | None = None


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
    synthetic: SyntheticSettings = Field(default_factory=SyntheticSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    validation: ValidationSettings = Field(default_factory=ValidationSettings)
    data: DataSpec = Field(default_factory=DataSpec)
    classifier: ClassifierSettings = Field(default_factory=ClassifierSettings)
    segmenter: SegmenterSettings = Field(default_factory=SegmenterSettings)
    scoring: ScoringSettings = Field(default_factory=ScoringSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    pipelines: dict[str, PipelineSettings] = Field(default_factory=dict)
    pipeline_runs_table: str = "pipeline_runs"

    @model_validator(mode="after")
    def _implied_tables(self) -> Settings:
        """Tables the configuration implies get a location unless configured: every ingest target and the
        modelling table (a path of their own name under the lake root), and for every input table its
        `<name>_validated` and `<name>_quarantine` (beside it: its path or catalog name plus the suffix). Any
        other name stays an error (a typo must not make a table)."""
        targets = {self.ingest.table, *(s.table for s in self.ingest.sources.values() if s.table)}
        for name in sorted({*targets, *self.validation.suites} - set(self.tables)):
            self.tables[name] = TableSettings(path=name)
        outputs = {
            self.validation.results_table,
            self.scoring.scored_table,
            self.scoring.candidates_table,
            self.monitoring.drift_table,
            self.monitoring.alerts_table,
            self.monitoring.profile_table,
            self.segmenter.profiles_table,
            self.synthetic.truth_table,
            self.pipeline_runs_table,
        }
        for name, table in list(self.tables.items()):
            if name in outputs or name.endswith(("_validated", "_quarantine")):
                continue
            for suffix in ("_validated", "_quarantine"):
                if name + suffix not in self.tables:
                    self.tables[name + suffix] = TableSettings(
                        path=table.path + suffix if table.path else None if table.catalog_name else name + suffix,
                        catalog_name=table.catalog_name + suffix if table.catalog_name else None,
                    )
        self.tables.setdefault(self.data.table, TableSettings(path=self.data.table))
        return self

    @model_validator(mode="after")
    def _tables_in_catalog(self) -> Settings:
        """With `lake.catalog` set, every table without a `catalog_name` (the product's, the implied ones, an
        overlay's) is `<lake.catalog>.<table name>`; its path stays for the offline engine."""
        if self.lake.catalog is None:
            return self
        for name, table in self.tables.items():
            if table.catalog_name:
                continue
            if not TABLE_NAME.fullmatch(name):
                raise ValueError(
                    f"tables.{name}: '{name}' cannot be a catalog table name under lake.catalog "
                    f"({self.lake.catalog}); use letters, digits and _, or give tables.{name}.catalog_name"
                )
            table.catalog_name = f"{self.lake.catalog}.{name}"
        return self

    @model_validator(mode="after")
    def _registry_names(self) -> Settings:
        """Unity Catalog registers models as catalog.schema.model: the schema is lake.catalog's."""
        if not self.unity_catalog_registry:
            return self
        if self.lake.catalog is None:
            raise ValueError(
                "the Unity Catalog model registry (mlflow.registry_uri databricks-uc) names models "
                "catalog.schema.model: set lake.catalog to the catalog and schema, e.g. main.customer_ml"
            )
        if not TABLE_NAME.fullmatch(self.project.name):
            raise ValueError(
                f"project.name '{self.project.name}' names the registered models ({self.project.name}_classifier); "
                "Unity Catalog needs letters, digits and _"
            )
        return self

    def with_tables(self, names: list[str]) -> Settings:
        """These settings with the tables a command names (`--table`, `--input-table`) implied like an ingest
        target: a path of their own name under the lake root, with `_validated` and `_quarantine` beside."""
        missing = [n for n in names if n and n not in self.tables]
        if not missing:
            return self
        for name in missing:
            if not TABLE_NAME.fullmatch(name):
                raise ConfigError(
                    f"table name '{name}': use letters, digits and _ (it names a folder under lake.root and a SQL "
                    "view); a table elsewhere gets tables.<name>.path in your overlay"
                )
        data = self.model_dump(by_alias=True)
        for name in missing:
            data["tables"][name] = {"path": name}
        return Settings.model_validate(data)

    @property
    def ingest_key(self) -> str:
        """The key the ingest joins sources on: `ingest.key`, else `data.id_column`."""
        return self.ingest.key or self.data.require_id()

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

    @property
    def unity_catalog_registry(self) -> bool:
        """True when models register in Unity Catalog: registry_uri databricks-uc, or no registry_uri with a
        Databricks tracking URI (MLflow 3 then takes databricks-uc)."""
        registry = self.mlflow.registry_uri
        if registry:
            return registry.startswith("databricks-uc")
        return (self.mlflow.tracking_uri or "").startswith("databricks")

    def registered_model_name(self, name: str) -> str:
        """A registered model's full name: `<lake.catalog>.<name>` in the Unity Catalog registry, else `name`."""
        return f"{self.lake.catalog}.{name}" if self.unity_catalog_registry else name


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
