"""`customer-ml init`, the YAML: an Overlay rendered as commented text. Pure and deterministic (no time, no
randomness); each scalar goes through yaml.safe_dump, and every string value is double-quoted, so "Yes", "no" or
"on" stay strings and a value with a quote or a colon stays one value."""

from __future__ import annotations

import re
import shlex
import textwrap
from typing import Any

import yaml

from customer_ml.data.onboarding_plan import Overlay
from customer_ml.data.onboarding_rules import ColumnStats, shown

COMMENT_COLUMN = 44
WIDTH = 118
OPTION_COMMENTS = {
    "sep": "the field separator (init judged it from the first lines; --sep sets it)",
    "inferSchema": "every column read as text; the casts below type them",
    "escape": 'RFC 4180: a quote inside a quoted value is doubled ("")',
    "ignoreLeadingWhiteSpace": "unquoted values trimmed, so a blank field ( ) reads as null",
}
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render(overlay: Overlay) -> str:
    """The overlay file's text: header, project, data, ingest, validation, classifier and segmenter sections."""
    sections = [_header(overlay), _project(overlay), _data(overlay), _ingest(overlay), _validation(overlay)]
    sections += [_classifier(overlay), _segmenter(overlay)]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def value(item: Any) -> str:
    """A YAML value: strings always double-quoted, lists and mappings in flow style."""
    if isinstance(item, str):
        return yaml.safe_dump(item, default_style='"', allow_unicode=True, width=10**9).rstrip("\n")
    if isinstance(item, list | tuple):
        return "[" + ", ".join(value(i) for i in item) + "]"
    if isinstance(item, dict):
        return "{" + ", ".join(f"{name(k)}: {value(v)}" for k, v in item.items()) + "}"
    return yaml.safe_dump(item).removesuffix("\n").removesuffix("\n...").rstrip("\n")


def name(text: str) -> str:
    """A key or a name (column, type, expectation): plain when YAML reads it back as the same string, else quoted."""
    plain = _PLAIN.fullmatch(text) and yaml.safe_load(f"{text}: 0") == {text: 0}
    return text if plain else value(text)


def _line(indent: int, text: str, comment: str = "") -> str:
    text = " " * indent + text
    if not comment:
        return text
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {comment}" if len(text) < COMMENT_COLUMN - 1 else f"{text}  # {comment}"


def _comment_block(indent: int, comment: str) -> list[str]:
    return [" " * indent + "# " + part for part in textwrap.wrap(comment, WIDTH - indent - 2)]


def _header(overlay: Overlay) -> list[str]:
    profile = overlay.profile
    command = f"customer-ml --overlay {shlex.quote(overlay.output)}"
    return [
        f"# Dataset overlay for {overlay.name}, written by `customer-ml init` from a profile of its source.",
        f"# Source: {profile.source} ({profile.fmt}), {profile.rows} rows profiled, {len(profile.columns)} columns.",
        "# Every decision carries its reason as a comment: review them (the suite most of all), then run",
        f"#   {command} run all        # ingest, validate, train-classifier, train-segmenter, score",
        "# or those stages one by one as commands of their own; next month's rows (the label column may be absent):",
        f"#   {command} --set ingest.sources.{overlay.name}.path=NEXT_FILE run score",
        "# init writes the same bytes again from the same source, and will not overwrite your edits without --force.",
    ]


def _project(overlay: Overlay) -> list[str]:
    model = f"models register as {overlay.name}_classifier and {overlay.name}_segmenter"
    work_dir = "${CUSTOMER_ML_WORK_DIR:-./work}/" + overlay.name
    return [
        "project:",
        _line(2, f"name: {name(overlay.name)}", model),
        _line(2, f"work_dir: {value(work_dir)}", "this dataset's own lake, MLflow store and reports"),
    ]


def _data(overlay: Overlay) -> list[str]:
    profile = overlay.profile
    id_stats = profile.column(profile.id_column)
    unique = id_stats.nulls == 0 and profile.id_distinct == profile.rows
    id_note = f"{profile.id_distinct} distinct of {profile.rows} rows" + ("" if unique else ": NOT unique")
    share = 100 * profile.positive_rows / profile.rows
    exactly = "; compared exactly, case included" if isinstance(profile.positive, str) else ""
    return [
        "data:",
        _line(2, f"id_column: {name(profile.id_column)}", id_note),
        "  label:",
        _line(4, f"column: {name(profile.label)}", _values_note(profile.column(profile.label))),
        _line(4, f"positive: {value(profile.positive)}", f"{share:.1f}% of the rows" + exactly),
    ]


def _values_note(column: ColumnStats) -> str:
    if column.values is None:
        return f"{column.type}, ~{column.distinct} values"
    return f"{column.type}: " + ", ".join(shown(v) for v in column.values)


def _ingest(overlay: Overlay) -> list[str]:
    profile = overlay.profile
    lines = [
        "ingest:",
        _line(2, "table: customers", "validated into customers_validated, which the models read"),
        "  sources:",
        f"    {name(overlay.name)}:",
        f"      format: {name(profile.fmt)}",
        _line(6, f"path: {value(profile.source)}", "as given to init; relative to the folder you run in"),
    ]
    if overlay.options:
        lines.append("      options:")
        lines += [_line(8, f"{name(k)}: {value(v)}", OPTION_COMMENTS.get(k, "")) for k, v in overlay.options.items()]
        if profile.fmt == "csv":
            lines.append("        # add multiLine: true if a quoted value spans lines (slower: one task per file)")
    renamed = [(c.name, profile.renamed_from[c.name]) for c in profile.columns if c.name in profile.renamed_from]
    if renamed:
        lines.append(_line(6, "rename:", "Delta stores these names only with column mapping"))
        lines += [f"        {name(old)}: {name(new)}" for new, old in renamed]
    if profile.fmt != "csv":
        lines.append(f"      # no casts: {profile.fmt} keeps its types")
    elif not profile.casts:
        lines.append(_line(6, "casts: {}", "every column holds text"))
    else:
        lines.append(_line(6, "casts:", "the narrowest type every value casts to; the columns not listed stay text"))
        lines += [_line(8, f"{name(c)}: {name(t)}", profile.notes.get(c, "")) for c, t in profile.casts.items()]
    return lines


def _validation(overlay: Overlay) -> list[str]:
    profile = overlay.profile
    lines = [
        "validation:",
        "  suites:",
        _line(4, "customers:", f"a proposal from {profile.rows} rows: review it before you rely on it"),
        f"      key: {name(profile.id_column)}",
        _line(6, "schema:", "every column after renames and casts, with its Spark type"),
        *(f"        {name(c.name)}: {name(c.type)}" for c in profile.columns),
        "      expectations:",
    ]
    for comment, rules in overlay.expectation_groups:
        lines += _comment_block(8, comment)
        lines += [f"        - {_rule(rule)}" for rule in rules]
    return lines


def _rule(rule: dict[str, Any]) -> str:
    """One expectation in flow style, as conf/ writes them: names plain where YAML allows, values quoted."""
    kwargs = ", ".join(f"{k}: {name(v) if k == 'column' else value(v)}" for k, v in rule["kwargs"].items())
    return f"{{expectation: {name(rule['expectation'])}, kwargs: {{{kwargs}}}, severity: {name(rule['severity'])}}}"


def _classifier(overlay: Overlay) -> list[str]:
    lines = ["classifier:", "  features:"]
    lines += _listed(4, "categorical", overlay.categorical, "text columns and numeric codes (never the id or label)")
    lines += _listed(4, "exclude", overlay.exclude, "never features, each for its reason")
    return lines


def _segmenter(overlay: Overlay) -> list[str]:
    lines = ["segmenter:", "  features:"]
    if not overlay.segment_include:
        lines.append(_line(4, "include: []", "no numeric columns found: list the behavioural ones here"))
        return lines + _listed(4, "exclude", overlay.exclude, "as for the classifier")
    comment = "the numeric columns; keep what customers do, drop who they are (text and codes left out)"
    return lines + _listed(4, "include", [(c, "") for c in overlay.segment_include], comment)


def _listed(indent: int, key: str, items: list[tuple[str, str]], comment: str) -> list[str]:
    if not items:
        return [_line(indent, f"{key}: []", comment)]
    return [_line(indent, f"{key}:", comment), *(_line(indent + 2, f"- {name(c)}", why) for c, why in items)]
