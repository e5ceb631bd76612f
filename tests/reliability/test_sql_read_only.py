"""Issue 13 item 1: `customer-ml sql` reads. Decided from Spark's parsed plan (the JVM parser on a classic session,
EXPLAIN's parsed plan on Spark Connect): both ways are tried on every statement."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from customer_ml import lake
from customer_ml.errors import CustomerMLError
from customer_ml.session import bind_settings
from customer_ml.sql import UNPLANNABLE, check_read_only
from tests.conftest import make_settings
from tests.reliability.helpers import project

READS = [
    "SELECT a, count(*) FROM t WHERE a > 1 GROUP BY a HAVING count(*) > 0 ORDER BY 2 DESC LIMIT 10 OFFSET 1",
    "WITH x AS (SELECT 1 AS a), y AS (SELECT * FROM x) SELECT * FROM y JOIN x USING (a)",
    "SELECT * FROM t WHERE a IN (SELECT a FROM t) UNION ALL SELECT 1",
    "SELECT a, row_number() OVER w FROM t WINDOW w AS (ORDER BY a)",
    "SELECT explode(array(1, 2))",
    "SELECT * FROM range(3)",
    "VALUES (1, 2)",
    "TABLE t",
    "SHOW TABLES",
    "SHOW COLUMNS IN t",
    "DESCRIBE t",
    "DESCRIBE FUNCTION abs",
    "EXPLAIN SELECT * FROM t",
    "EXPLAIN INSERT INTO t VALUES (1)",  # EXPLAIN plans, never runs
]
WRITES = [
    ("INSERT OVERWRITE DIRECTORY '/tmp/x' USING parquet SELECT 1 AS x", "InsertIntoDir"),
    ("CREATE TABLE z USING parquet LOCATION '/tmp/anywhere' AS SELECT 1 AS x", "CreateTableAsSelect"),
    ("INSERT INTO t VALUES (1)", "InsertIntoStatement"),
    ("DELETE FROM t WHERE a = 1", "DeleteFromTable"),
    ("MERGE INTO t USING t s ON t.a = s.a WHEN MATCHED THEN DELETE", "MergeIntoTable"),
    ("DROP VIEW t", "DropView"),
    ("CREATE TEMP VIEW v AS SELECT 1", "CreateViewCommand"),
    ("CACHE TABLE t", "CacheTable"),
    ("SET spark.sql.ansi.enabled=false", "SetCommand"),
    ("ADD JAR /tmp/x.jar", "AddJarsCommand"),
    ("BEGIN SELECT 1; END", "CompoundBody"),
]


@pytest.mark.parametrize("via_explain", [False, True], ids=["parser", "explain"])
def test_reads_pass_and_writes_are_refused_by_their_parsed_plan(spark: SparkSession, via_explain: bool) -> None:
    spark.range(3).withColumnRenamed("id", "a").createOrReplaceTempView("t")
    for statement in READS:
        check_read_only(spark, statement, via_explain=via_explain)
    for statement, operator in WRITES:
        if via_explain and operator == "CompoundBody":
            continue  # EXPLAIN of a compound block does not parse: spark.sql's parse error reaches the user instead
        shown = f"({operator}|{re.escape(UNPLANNABLE)})" if via_explain else operator  # EXPLAIN of some fails
        with pytest.raises(CustomerMLError, match=rf"sql is read-only: refused a statement with {shown} "):
            check_read_only(spark, statement, via_explain=via_explain)
    assert spark.catalog.tableExists("t")  # nothing ran


@pytest.mark.slow
def test_the_cli_refuses_to_replace_a_table_folder_and_keeps_the_table(
    spark: SparkSession, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = project(tmp_path)
    assert mine.run(capsys, "ingest").code == 0
    settings = make_settings(mine.work, overlays=(mine.overlay,))
    bind_settings(spark, settings, engine="delta-rs")
    folder = Path(lake.table_path(spark, "customers"))
    before = sorted(p.name for p in folder.rglob("*"))

    smash = mine.run(capsys, "sql", f"INSERT OVERWRITE DIRECTORY '{folder}' USING parquet SELECT 1 AS x")
    assert smash.code == 2 and smash.last.startswith("customer-ml: error: sql is read-only: refused a statement with")
    elsewhere = tmp_path / "anywhere"
    ctas = mine.run(capsys, "sql", f"CREATE TABLE z USING parquet LOCATION '{elsewhere}' AS SELECT 1 AS x")
    assert ctas.code == 2 and "CreateTableAsSelect" in ctas.last
    assert not elsewhere.exists()
    assert sorted(p.name for p in folder.rglob("*")) == before
    bind_settings(spark, settings, engine="delta-rs")
    assert lake.read_table(spark, "customers").count() == 3

    shown = mine.run(capsys, "sql", "SHOW TABLES")
    assert shown.code == 0 and "customers" in shown.out
    described = mine.run(capsys, "sql", "DESCRIBE customers")
    assert described.code == 0 and "amount" in described.out
