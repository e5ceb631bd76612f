"""Ingest: two CSV sources joined on the key into the customers table, and every error path."""

from __future__ import annotations

from pathlib import Path

import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.data import ingest
from customer_ml.errors import SourceError
from customer_ml.session import bind_settings
from customer_ml.settings import IngestSettings, Settings, SourceSpec

DEMOGRAPHICS = "CUST_ID,AGE_YRS,region\nC1,34,north\nC2,,south\nC3,51,east\nC4,29,west\n"
ACCOUNTS = "cust,savings,products\nC1,100.50,2\nC2,0,1\nC3,2500.25,4\nC9,7.00,1\n"


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def configure(spark: SparkSession, lake_settings: Settings, sources: dict[str, SourceSpec], **options) -> Settings:  # noqa: ANN003
    settings = lake_settings.model_copy(update={"ingest": IngestSettings(sources=sources, **options)})
    bind_settings(spark, settings, engine="delta-rs")
    return settings


def two_csv_sources(tmp_path: Path, accounts: str = ACCOUNTS) -> dict[str, SourceSpec]:
    return {
        "demographics": SourceSpec(
            format="csv",
            path=write(tmp_path / "demo.csv", DEMOGRAPHICS),
            options={"header": True},
            rename={"CUST_ID": "customer_id", "AGE_YRS": "age"},
            casts={"age": "int"},
        ),
        "accounts": SourceSpec(
            format="csv",
            path=write(tmp_path / "acc.csv", accounts),
            options={"header": True},
            rename={"cust": "customer_id", "savings": "savings_balance"},
            casts={"savings_balance": "decimal(18,2)", "products": "int"},
        ),
    }


def test_two_csv_sources_are_joined_into_customers(
    spark: SparkSession, lake_settings: Settings, tmp_path: Path
) -> None:
    settings = configure(spark, lake_settings, two_csv_sources(tmp_path))
    [report] = ingest.run(spark, settings)
    expected = spark.createDataFrame(
        [
            ("C1", 34, "north", 100.50, 2),
            ("C2", None, "south", 0.0, 1),
            ("C3", 51, "east", 2500.25, 4),
            ("C4", 29, "west", None, None),
        ],
        "customer_id string, age int, region string, savings_balance double, products int",
    ).selectExpr(
        "customer_id", "age", "region", "cast(savings_balance AS decimal(18,2)) AS savings_balance", "products"
    )
    assert_df_equality(lake.read_table(spark, "customers"), expected, ignore_row_order=True, ignore_nullable=True)
    assert report.source_rows == {"demographics": 4, "accounts": 4}
    assert report.unmatched_rows == {"accounts": 1, "demographics without accounts": 1}
    assert report.rows_written == 4
    info = lake.history(spark, "customers")[0]["info"]
    assert '"accounts": 4' in info["customer_ml.source_rows"]
    assert DeltaTable(lake.table_path(spark, "customers")).to_pandas().shape == (4, 5)


def test_inner_join_and_merge_mode(spark: SparkSession, lake_settings: Settings, tmp_path: Path) -> None:
    settings = configure(spark, lake_settings, two_csv_sources(tmp_path), join="inner")
    ingest.run(spark, settings)
    assert sorted(r[0] for r in lake.read_table(spark, "customers").select("customer_id").collect()) == [
        "C1",
        "C2",
        "C3",
    ]
    changed = "cust,savings,products\nC2,99.00,3\nC4,1.00,1\n"
    settings = configure(spark, lake_settings, two_csv_sources(tmp_path, changed), join="inner", mode="merge")
    ingest.run(spark, settings)
    rows = {
        r["customer_id"]: (r["savings_balance"], r["products"]) for r in lake.read_table(spark, "customers").collect()
    }
    assert {k: (float(v[0]), v[1]) for k, v in rows.items()} == {
        "C1": (100.5, 2),
        "C2": (99.0, 3),
        "C3": (2500.25, 4),
        "C4": (1.0, 1),
    }
    assert lake.history(spark, "customers")[0]["operation"] == "MERGE"


def test_parquet_and_delta_sources(spark: SparkSession, lake_settings: Settings, tmp_path: Path) -> None:
    base = spark.createDataFrame([("C1", 1), ("C2", 2)], "customer_id string, x int")
    base.write.parquet(str(tmp_path / "p"))
    from deltalake import write_deltalake

    write_deltalake(str(tmp_path / "d"), base.selectExpr("customer_id", "x * 10 AS y").toPandas())
    sources = {
        "p": SourceSpec(format="parquet", path=str(tmp_path / "p")),
        "d": SourceSpec(format="delta", path=str(tmp_path / "d")),
    }
    ingest.run(spark, configure(spark, lake_settings, sources))
    expected = spark.createDataFrame([("C1", 1, 10), ("C2", 2, 20)], "customer_id string, x int, y int")
    assert_df_equality(lake.read_table(spark, "customers"), expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"path": "/no/such/file.csv"}, r"source 'demographics': no file or folder at /no/such/file.csv; fix ingest"),
        ({"rename": {"NOPE": "customer_id"}}, r"source 'demographics': cannot rename missing column\(s\) \['NOPE'\]"),
        ({"rename": {}}, r"source 'demographics' has no key column 'customer_id'.*rename its key"),
        ({"casts": {"region": "int", "CUST_ID": "string"}}, r"has no column\(s\) \[.CUST_ID.\] that ingest.sources"),
    ],
)
def test_source_description_errors(
    spark: SparkSession, lake_settings: Settings, tmp_path: Path, change: dict, message: str
) -> None:
    sources = two_csv_sources(tmp_path)
    sources["demographics"] = sources["demographics"].model_copy(update=change)
    with pytest.raises(SourceError, match=message):
        ingest.run(spark, configure(spark, lake_settings, sources))
    assert not lake.table_exists(spark, "customers")


def test_data_errors_are_named(spark: SparkSession, lake_settings: Settings, tmp_path: Path) -> None:
    cases = [
        (
            "cust,savings,products\nC1,abc,2\n",
            r"source 'accounts': values that cannot be cast \{'savings_balance': 1\} "
            r"\(e.g. savings_balance='abc' to decimal",
        ),
        (
            "cust,savings,products\nC1,1,2\nC1,2,3\n",
            r"source 'accounts': 1 duplicate customer_id value\(s\), e.g. \['C1'\]",
        ),
        ("cust,savings,products\n,1,2\n", r"source 'accounts': 1 row\(s\) have no customer_id"),
    ]
    for text, message in cases:
        with pytest.raises(SourceError, match=message):
            ingest.run(spark, configure(spark, lake_settings, two_csv_sources(tmp_path, text)))


def test_unreadable_file_and_key_type_mismatch(spark: SparkSession, lake_settings: Settings, tmp_path: Path) -> None:
    broken = SourceSpec(format="parquet", path=write(tmp_path / "broken.parquet", "not parquet at all"))
    with pytest.raises(SourceError, match=r"source 'broken': cannot read .*broken.parquet as parquet"):
        ingest.run(spark, configure(spark, lake_settings, {"broken": broken}))
    sources = two_csv_sources(tmp_path, "cust,savings,products\n1,1,2\n")
    sources["accounts"] = sources["accounts"].model_copy(update={"casts": {"customer_id": "int"}})
    with pytest.raises(SourceError, match=r"key 'customer_id' is string in source 'demographics' but int in source"):
        ingest.run(spark, configure(spark, lake_settings, sources))


def test_column_clash_and_no_sources(spark: SparkSession, lake_settings: Settings, tmp_path: Path) -> None:
    sources = two_csv_sources(tmp_path)
    sources["accounts"] = sources["accounts"].model_copy(
        update={"rename": {"cust": "customer_id", "savings": "region"}, "casts": {}}
    )
    with pytest.raises(SourceError, match=r"column\(s\) \['region'\] appear in sources 'demographics' and 'accounts'"):
        ingest.run(spark, configure(spark, lake_settings, sources))
    with pytest.raises(SourceError, match=r"ingest.sources is empty"):
        ingest.run(spark, configure(spark, lake_settings, {}))


def test_sources_go_to_their_own_tables_and_can_be_ingested_one_by_one(spark: SparkSession, tmp_path: Path) -> None:
    """A second table (the rows to score) comes in beside the training rows, without --set tricks: a source's
    `table:` routes it, `--table` / `--source` pick what to ingest, and its table needs no `tables:` entry."""
    from tests.conftest import make_settings

    train = write(tmp_path / "t.csv", "id,x\n1,a\n2,b\n")
    next_month = write(tmp_path / "n.csv", "id,x\n7,c\n")
    overlay = tmp_path / "mine.yml"
    overlay.write_text(
        "ingest:\n  sources:\n"
        f"    train: {{format: csv, path: '{train}', options: {{header: true}}, casts: {{id: int}}}}\n"
        f"    next_month: {{format: csv, path: '{next_month}', options: {{header: true}}, casts: {{id: int}}, "
        "table: to_score}\n"
        "data: {id_column: id}\n",
        encoding="utf-8",
    )
    settings = make_settings(tmp_path / "work", overlays=(overlay,))
    bind_settings(spark, settings, engine="delta-rs")
    assert "to_score" in settings.tables and "to_score_validated" in settings.tables

    [only] = ingest.run(spark, settings, table="to_score")
    assert (only.table, only.rows_written) == ("to_score", 1)
    assert not lake.table_exists(spark, "customers")
    reports = ingest.run(spark, settings)
    assert [(r.table, r.rows_written) for r in reports] == [("customers", 2), ("to_score", 1)]
    assert sorted(r["id"] for r in lake.read_table(spark, "to_score").collect()) == [7]
    [again] = ingest.run(spark, settings, table="customers", sources=["next_month"])
    assert sorted(r["id"] for r in lake.read_table(spark, "customers", version=again.version).collect()) == [7]

    with pytest.raises(SourceError, match=r"unknown ingest source\(s\) \['nope'\]; configured: train, next_month"):
        ingest.run(spark, settings, sources=["nope"])
    with pytest.raises(
        SourceError, match=r"no ingest source goes to table 'other' \(sources go to: customers, to_score\)"
    ):
        ingest.run(spark, settings, table="other")
