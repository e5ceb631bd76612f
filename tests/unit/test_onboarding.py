"""`customer-ml init` without Spark: types from cast counts, renames, ranges, roles, the plan and the YAML."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from customer_ml.config import load_settings
from customer_ml.data.onboarding import CSV_OPTIONS, default_format, default_name
from customer_ml.data.onboarding_plan import decide
from customer_ml.data.onboarding_render import name, render, value
from customer_ml.data.onboarding_rules import (
    CastCounts,
    ColumnStats,
    SourceProfile,
    blank_note,
    check_positive,
    delta_renames,
    infer_type,
    role,
    typed_positive,
    widened_range,
)
from customer_ml.errors import ConfigError
from tests.conftest import REPO

COLUMNS = (
    ColumnStats("customer_id", "int", nulls=0, distinct=50, minimum=1, maximum=50),
    ColumnStats("full_name", "string", nulls=0, distinct=49),
    ColumnStats("plan_code", "int", nulls=0, distinct=4, minimum=1, maximum=4, values=(1, 2, 3, 4)),
    ColumnStats("monthly_charges", "double", nulls=1, distinct=48, minimum=18.25, maximum=118.75),
    ColumnStats("senior", "int", nulls=0, distinct=2, minimum=0, maximum=1, values=(0, 1)),
    ColumnStats("balance", "double", nulls=0, distinct=50, minimum=-20.0, maximum=80.0),
    ColumnStats("payment", "string", nulls=2, distinct=3, values=("bank transfer", "card", "check")),
    ColumnStats("region", "string", nulls=0, distinct=1, values=("north",)),
    ColumnStats("notes", "string", nulls=50, distinct=0),
    ColumnStats("opened", "date", nulls=0, distinct=40),
    ColumnStats("churn", "string", nulls=0, distinct=2, values=("No", "Yes")),
)
PROFILE = SourceProfile(
    source="data/bank.csv",
    fmt="csv",
    rows=50,
    columns=COLUMNS,
    id_column="customer_id",
    id_distinct=50,
    label="churn",
    positive="Yes",
    positive_rows=13,
    renamed_from={"full_name": "Full Name"},
    casts={"customer_id": "int", "plan_code": "int", "monthly_charges": "double", "senior": "int", "balance": "double"},
    notes={"monthly_charges": "1 blank value read as null"},
)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (CastCounts(values=10, blank=1, as_int=9, as_bigint=9, as_double=9), ("int", "")),
        (CastCounts(values=10, as_int=8, as_bigint=10, as_double=10), ("bigint", "")),
        (CastCounts(values=10, blank=2, as_double=8), ("double", "")),
        (CastCounts(values=4, as_boolean=4), ("boolean", "")),
        (CastCounts(values=4, as_date=4), ("date", "")),
        (CastCounts(values=4, as_int=3, as_bigint=3, as_double=3), ("string", "")),
        (
            CastCounts(values=10, leading_zero=3, as_int=10, as_bigint=10, as_double=10),
            ("string", "numbers kept as text: 3 have leading zeros (codes, not amounts)"),
        ),
        (CastCounts(values=0), ("string", "no values")),
        (CastCounts(values=3, blank=3), ("string", "only blank values")),
    ],
)
def test_infer_type_is_the_narrowest_type_every_filled_value_casts_to(
    counts: CastCounts, expected: tuple[str, str]
) -> None:
    assert infer_type(counts) == expected


def test_blank_note_tells_blanks_read_as_null_from_quoted_blanks_kept() -> None:
    assert blank_note(11, 0, cast_dropped=False) == "11 blank values read as null"
    assert blank_note(3, 1, cast_dropped=True) == (
        "2 blank values read as null; 1 quoted blank value kept: ingest cannot cast them, so the column stays text"
    )
    assert blank_note(0, 0, cast_dropped=False) == ""


def test_delta_renames_only_names_delta_cannot_store_and_never_onto_a_taken_name() -> None:
    columns = ["customer id", "customer_id", "Total Charges", "plain", "a=b", "MonthlyFee (USD)", "CamelCase"]
    assert delta_renames(columns) == {
        "customer id": "customer_id_2",
        "Total Charges": "total_charges",
        "a=b": "a_b",
        "MonthlyFee (USD)": "monthly_fee_usd",
    }


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0, 72, True, (0, 80)),
        (18.25, 118.75, False, (8, 129)),
        (20.0, 117.5, False, (10.2, 127.3)),
        (-20.0, 80.0, False, (-30, 90)),
        (-50.0, -10.0, False, (-54.0, -6.0)),
        (0.001, 0.009, False, (0.0002, 0.0098)),
    ],
)
def test_widened_range_adds_a_tenth_each_side_without_crossing_zero(
    low: float, high: float, integer: bool, expected: tuple[float, float]
) -> None:
    assert widened_range(low, high, integer) == expected


@pytest.mark.parametrize(
    ("text", "spark_type", "expected"),
    [("Yes", "string", "Yes"), ("1", "int", 1), ("Yes", "int", None), ("1", "double", 1.0), ("TRUE", "boolean", True)],
)
def test_typed_positive_takes_the_label_columns_type(text: str, spark_type: str, expected: object) -> None:
    assert typed_positive(text, spark_type) == expected
    assert type(typed_positive(text, spark_type)) is type(expected)


def test_roles_of_the_columns() -> None:
    roles = {c.name: role(c, rows=50)[0] for c in COLUMNS}
    assert roles == {
        "customer_id": "numeric",
        "full_name": "exclude",
        "plan_code": "code",
        "monthly_charges": "numeric",
        "senior": "binary",
        "balance": "numeric",
        "payment": "categorical",
        "region": "exclude",
        "notes": "exclude",
        "opened": "exclude",
        "churn": "categorical",
    }


def test_a_positive_the_label_never_takes_is_one_line_naming_value_column_and_values() -> None:
    with pytest.raises(ConfigError) as error:
        check_positive(replace(PROFILE, positive="yes", positive_rows=0), "yes")
    assert str(error.value) == (
        '--positive yes: label column churn holds "No", "Yes" (values compare exactly, case included)'
    )
    many = replace(COLUMNS[-1], distinct=400, values=None)
    with pytest.raises(ConfigError, match='holds no "x" among its ~400 distinct values'):
        check_positive(replace(PROFILE, columns=(*COLUMNS[:-1], many), positive="x", positive_rows=0), "x")


def test_values_are_always_quoted_names_only_when_yaml_needs_it() -> None:
    assert [value(v) for v in ("Yes", "no", 'a "b", c', True, 1, 0.5, None)] == [
        '"Yes"',
        '"no"',
        '"a \\"b\\", c"',
        "true",
        "1",
        "0.5",
        "null",
    ]
    assert [name(n) for n in ("customer_id", "Full Name", "on", "decimal(18,2)")] == [
        "customer_id",
        '"Full Name"',
        '"on"',
        '"decimal(18,2)"',
    ]


def test_the_summary_has_one_line_per_decision() -> None:
    summary = decide(PROFILE, name="bank", output="bank.yml", options=dict(CSV_OPTIONS)).summary
    assert summary[2:] == [
        "Full Name -> full_name: renamed (Delta needs column mapping for 'Full Name')",
        "customer_id: int -> id (50 distinct of 50 rows)",
        'label churn (string): 26.0% "Yes" of 50 rows',
        "full_name: string -> excluded from features (id-like: ~49 distinct of 50 values)",
        "plan_code: int with 4 values -> categorical (numeric code; move it to numeric if it is a count)",
        "monthly_charges: double (1 blank value read as null) 18.25..118.75 -> numeric; suite: 8..129 (warn), "
        ">= 0 (quarantine)",
        "senior: int with 2 values -> numeric (binary)",
        "balance: double -20..80 -> numeric; suite: -30..90 (warn)",
        "payment: string with 3 values -> categorical, value set in the suite (warn)",
        'region: string -> excluded from features (constant: one value ("north"))',
        "notes: string -> excluded from features (all null)",
        "opened: date -> excluded from features (type date: not a feature as is (derive a number from it in "
        "features.derived))",
        "segmenter: the 3 numeric columns (monthly_charges, senior, balance); categorical ones left out "
        "(payment, plan_code)",
    ]


def test_a_duplicated_or_missing_id_is_written_but_said() -> None:
    id_column = replace(COLUMNS[0], nulls=1)
    profile = replace(PROFILE, columns=(id_column, *COLUMNS[1:]), id_distinct=46)
    summary = decide(profile, name="bank", output="bank.yml", options={}).summary
    assert summary[3] == (
        "customer_id: int -> id, NOT unique (46 distinct of 50 rows: 3 duplicated, 1 null): the suite quarantines "
        "those rows; deduplicate the source to keep them"
    )


def test_the_rendered_overlay_loads_over_conf(tmp_path: Path) -> None:
    overlay = tmp_path / "bank.yml"
    overlay.write_text(render(decide(PROFILE, name="bank", output="bank.yml", options=dict(CSV_OPTIONS))))
    settings = load_settings(
        "local", conf_dir=REPO / "conf", overlays=[overlay], overrides=[f"project.work_dir={tmp_path / 'work'}"]
    )
    assert settings.project.name == "bank"
    assert settings.data.id_column == "customer_id"
    assert settings.data.label is not None and settings.data.label.positive == "Yes"
    assert isinstance(settings.data.label.positive, str)
    source = settings.ingest.sources["bank"]
    assert (source.format, source.path, source.rename) == ("csv", "data/bank.csv", {"Full Name": "full_name"})
    assert source.options == {
        "header": True,
        "inferSchema": False,
        "escape": '"',
        "ignoreLeadingWhiteSpace": True,
        "ignoreTrailingWhiteSpace": True,
    }
    assert source.casts == PROFILE.casts
    assert settings.classifier.features.categorical == ["plan_code", "payment"]
    assert settings.classifier.features.exclude == ["full_name", "region", "notes", "opened"]
    assert settings.segmenter.features.include == ["monthly_charges", "senior", "balance"]
    suite = settings.validation.suites["customers"]
    assert suite.key == "customer_id"
    assert suite.schema_ == {c.name: c.type for c in COLUMNS}
    assert [(e.expectation, e.kwargs, e.severity) for e in suite.expectations] == [
        ("expect_table_row_count_to_be_between", {"min_value": 1}, "error"),
        ("expect_column_values_to_not_be_null", {"column": "customer_id"}, "quarantine"),
        ("expect_column_values_to_be_unique", {"column": "customer_id"}, "quarantine"),
        ("expect_column_values_to_be_in_set", {"column": "churn", "value_set": ["No", "Yes"]}, "quarantine"),
        ("expect_column_values_to_be_in_set", {"column": "plan_code", "value_set": [1, 2, 3, 4]}, "warn"),
        ("expect_column_values_to_be_in_set", {"column": "senior", "value_set": [0, 1]}, "warn"),
        (
            "expect_column_values_to_be_in_set",
            {"column": "payment", "value_set": ["bank transfer", "card", "check"]},
            "warn",
        ),
        ("expect_column_values_to_be_between", {"column": "monthly_charges", "min_value": 0}, "quarantine"),
        (
            "expect_column_values_to_be_between",
            {"column": "monthly_charges", "min_value": 8, "max_value": 129},
            "warn",
        ),
        ("expect_column_values_to_be_between", {"column": "balance", "min_value": -30, "max_value": 90}, "warn"),
    ]


def test_each_decision_carries_its_reason_as_a_comment() -> None:
    text = render(decide(PROFILE, name="bank", output="my overlays/bank.yml", options=dict(CSV_OPTIONS)))
    lines = text.splitlines()
    assert lines[3].startswith("#   customer-ml --overlay 'my overlays/bank.yml' run all ")
    assert (
        lines[5]
        == "#   customer-ml --overlay 'my overlays/bank.yml' --set ingest.sources.bank.path=NEXT_FILE run score"
    )
    reasons = [  # in file order
        '        "Full Name": full_name',
        "        monthly_charges: double             # 1 blank value read as null",
        "      - plan_code                           # numeric code with 4 values: treated as categorical; move to "
        "numeric if it is a count",
        "      - full_name                           # id-like: ~49 distinct of 50 values",
    ]
    assert [line for line in lines if line in reasons] == reasons
    assert yaml.safe_load(text)["project"]["work_dir"] == "${CUSTOMER_ML_WORK_DIR:-./work}/bank"


def test_default_format_and_name(tmp_path: Path) -> None:
    (tmp_path / "parquet_folder").mkdir()
    (tmp_path / "parquet_folder" / "part-0.parquet").write_bytes(b"")
    (tmp_path / "delta_folder" / "_delta_log").mkdir(parents=True)
    assert default_format("data/telco.CSV") == "csv"
    assert default_format("s3://bucket/x.parquet") == "parquet"
    assert default_format(str(tmp_path / "parquet_folder")) == "parquet"
    assert default_format(str(tmp_path / "delta_folder")) == "delta"
    with pytest.raises(ConfigError, match=re.escape("pass --format csv|parquet|delta")):
        default_format("data/telco.xlsx")
    assert default_name("data/WA_Fn-UseC_-Telco-Customer-Churn.csv") == "wa_fn_usec_telco_customer_churn"
    assert default_name("2024 customers.csv") == "data_2024_customers"
    assert default_name(str(tmp_path / "delta_folder") + "/") == "delta_folder"


def test_a_category_with_more_than_20_values_gets_no_value_set() -> None:
    cities = ColumnStats("city", "string", nulls=0, distinct=25, values=tuple(f"city {i:02d}" for i in range(25)))
    overlay = decide(replace(PROFILE, columns=(*COLUMNS, cities)), name="bank", output="bank.yml", options={})
    assert "city: string with 25 values -> categorical, no value set: > 20 values" in overlay.summary
    assert ("city", "25 values") in overlay.categorical
    columns_with_value_sets = [
        rule["kwargs"]["column"]
        for _, rules in overlay.expectation_groups
        for rule in rules
        if rule["expectation"] == "expect_column_values_to_be_in_set"
    ]
    assert columns_with_value_sets == ["churn", "plan_code", "senior", "payment"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('id,plan,fee\n1,"Gold; annual",2.5\n', ","),
        ('id;plan;fee\n1;"Gold, annual";2,5\n2;Basic;3,0\n', ";"),
        ("id\tplan\tfee\n1\tGold\t2.5\n", "\t"),
        ("id|plan|fee\n1|Gold|2.5\n", "|"),
        ("id\n1\n", ","),  # one column: nothing to judge, the default
        ("", ","),
    ],
)
def test_the_separator_is_judged_from_the_first_lines(tmp_path, text: str, expected: str) -> None:
    from customer_ml.data.onboarding import sniff_separator

    (tmp_path / "data.csv").write_text(text, encoding="utf-8")
    assert sniff_separator(str(tmp_path / "data.csv")) == expected
    assert sniff_separator(str(tmp_path)) == expected  # a folder: its first data file
    assert sniff_separator("s3://bucket/data.csv") == ","


def test_a_tab_separator_is_written_so_that_it_loads_back() -> None:
    overlay = decide(PROFILE, name="bank", output="bank.yml", options={**CSV_OPTIONS, "sep": "\t"})
    loaded = yaml.safe_load(render(overlay))
    assert loaded["ingest"]["sources"]["bank"]["options"]["sep"] == "\t"
    assert "fields separated by '\\t' (--sep to change)" in overlay.summary


def test_an_integer_column_of_0_to_k_with_none_missing_is_a_count_and_stays_numeric() -> None:
    from customer_ml.data.onboarding_rules import ColumnStats, role

    late = ColumnStats("months_late", "int", nulls=0, distinct=11, minimum=0, maximum=10, values=tuple(range(11)))
    assert role(late, 100) == (
        "numeric",
        "0..10, every value present: count-like, kept numeric (ordered); move to categorical if it is a code",
    )
    gap = ColumnStats("grade", "int", nulls=0, distinct=4, minimum=0, maximum=4, values=(0, 1, 2, 4))
    assert role(gap, 100)[0] == "code"
    one_based = ColumnStats("plan", "int", nulls=0, distinct=4, minimum=1, maximum=4, values=(1, 2, 3, 4))
    assert role(one_based, 100)[0] == "code"
