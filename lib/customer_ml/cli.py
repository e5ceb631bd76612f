"""`customer-ml`: one command per stage, calling the same library functions the jobs/ entry points call."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import logging
import platform
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from customer_ml.config import (
    DEFAULT_ENV,
    EXAMPLE_OVERLAY,
    OVERLAY_VARIABLE,
    find_jobs_dir,
    load_settings,
    masked,
    to_yaml,
)
from customer_ml.errors import CustomerMLError, describe_failure
from customer_ml.logs import configure_logging
from customer_ml.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser; the jobs/ entry points parse their arguments with it too."""
    common = _common_options(suffix="")
    top = _common_options(suffix=_BEFORE)

    parser = argparse.ArgumentParser(
        prog="customer-ml",
        parents=[top],
        description="Customer propensity, segmentation and scoring on Delta Lake.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = commands.add_parser("info", parents=[common], help="versions, environment, Spark, lake and MLflow locations")
    info.set_defaults(handler=_info)

    generate = commands.add_parser(
        "generate", parents=[common], help="write a synthetic customer base (and its truth table) to the lake"
    )
    generate.add_argument("--rows", type=int, default=None, help="customers to generate (default synthetic.rows)")
    generate.add_argument("--seed", type=int, default=None, help="seed (default synthetic.seed)")
    generate.add_argument("--drift", type=float, default=0.0, help="0..1: shift segment mix and drifted columns")
    generate.add_argument("--partitions", type=int, default=None, help="partitions of the generated data")
    generate.set_defaults(handler=_generate)

    init = commands.add_parser(
        "init",
        parents=[common],
        help="profile your source table and write a ready, commented overlay for it (types, suite, features)",
    )
    init.add_argument("--source", required=True, help="a CSV file, a Parquet file or folder, or a Delta table folder")
    init.add_argument(
        "--format", dest="fmt", choices=("csv", "parquet", "delta"), default=None, help="default: from the path"
    )
    init.add_argument("--id", dest="id_column", required=True, help="the customer id column")
    init.add_argument("--label", required=True, help="the label column (what the classifier learns)")
    init.add_argument("--positive", required=True, help='the label value that means positive, e.g. "Yes" or 1')
    init.add_argument("--name", default=None, help="project name (default: the source file's name)")
    init.add_argument("--output", type=Path, default=None, help="overlay to write (default ./<name>.yml)")
    init.add_argument("--force", action="store_true", help="replace an existing overlay that differs")
    init.add_argument("--sep", default=None, help="a CSV's field separator (default: detected, one of , ; tab |)")
    init.set_defaults(handler=_init)

    ingest = commands.add_parser(
        "ingest", parents=[common], help="read ingest.sources, join each table's sources, write the tables"
    )
    ingest.add_argument("--table", default=None, help="only this table (with --source: write those sources to it)")
    ingest.add_argument(
        "--source", dest="sources", action="append", default=[], metavar="NAME", help="only this source (repeatable)"
    )
    ingest.add_argument(
        "--path", default=None, help="with one --source: read this file instead (same layout; e.g. next month's)"
    )
    ingest.add_argument(
        "--allow-empty", action="store_true", help="let a source with no rows empty a table that has rows"
    )
    ingest.set_defaults(handler=_ingest)

    validate = commands.add_parser(
        "validate", parents=[common], help="validate a table (GX): results kept, bad rows quarantined"
    )
    validate.add_argument(
        "--table",
        default=None,
        help="table to validate (default ingest.table); its suite in validation.suites, else generic checks",
    )
    validate.add_argument(
        "--suite",
        default=None,
        metavar="TABLE",
        help="check with another table's suite, e.g. next month's rows (--table to_score) with --suite customers",
    )
    validate.set_defaults(handler=_validate)

    train = commands.add_parser(
        "train-classifier", parents=[common], help="train, evaluate and register the propensity classifier"
    )
    train.add_argument("--table", default=None, help="input table (default data.table)")
    train.set_defaults(handler=_train_classifier)

    segment = commands.add_parser(
        "train-segmenter", parents=[common], help="choose k, fit, profile, name and register the KMeans segmenter"
    )
    segment.add_argument("--table", default=None, help="input table (default data.table)")
    segment.add_argument("--k", type=int, default=None, help="fix k (default segmenter.selection)")
    segment.set_defaults(handler=_train_segmenter)

    score = commands.add_parser(
        "score", parents=[common], help="score and segment a table with the registered models, per score date"
    )
    score.add_argument("--input-table", default=None, help="table to score (default data.table)")
    score.add_argument("--score-date", type=_date, default=None, help="YYYY-MM-DD (default today, UTC)")
    score.add_argument("--classifier-version", default=None, help="registry version (default @champion)")
    score.add_argument("--segmenter-version", default=None, help="registry version (default @champion)")
    score.set_defaults(handler=_score)

    monitor = commands.add_parser(
        "monitor",
        parents=[common],
        help="drift of a score date's input from the classifier's training rows; exit 3 when an alert fires",
    )
    monitor.add_argument("--score-date", type=_date, default=None, help="YYYY-MM-DD (default the latest scored)")
    monitor.add_argument(
        "--baseline",
        default="training",
        help="training (default: the classifier's training rows), previous (the last earlier score date) or "
        "TABLE@VERSION",
    )
    monitor.add_argument(
        "--alert-exit-code",
        type=int,
        default=ALERT_EXIT,
        metavar="CODE",
        help=f"exit code when an alert fires (default {ALERT_EXIT}); 0 lets a Databricks job branch on the task "
        "values the monitor publishes there (alerts, retrain) instead of failing the task",
    )
    monitor.set_defaults(handler=_monitor)

    promote = commands.add_parser(
        "promote", parents=[common], help="make a registered model version the @champion, by hand"
    )
    promote.add_argument("--model", required=True, choices=("classifier", "segmenter"), help="which model")
    promote.add_argument("--version", required=True, help="the registry version to make champion")
    promote.add_argument("--reason", default="decided by hand", help="recorded on the version's promotion tag")
    promote.set_defaults(handler=_promote)

    run = commands.add_parser(
        "run", parents=[common], help="a pipeline of stages (conf pipelines:) in one Spark session, e.g. run all"
    )
    run.add_argument("pipeline", help="a name under pipelines: (monthly, retrain, full, all, or your own)")
    run.add_argument("--score-date", type=_date, default=None, help="for the score stage (default today, UTC)")
    run.add_argument(
        "--from",
        dest="start_from",
        default=None,
        metavar="TASK",
        help="resume at this task: the tasks before it (in run order) count as done",
    )
    run.set_defaults(handler=_run)

    sql = commands.add_parser("sql", parents=[common], help="run SQL over the lake tables and summary views")
    sql.add_argument("statement", help='e.g. "SELECT * FROM segment_summary"')
    sql.add_argument(
        "--output", type=Path, default=None, help="write all rows to this CSV file (by Spark, in the query's order)"
    )
    sql.add_argument("--limit", type=int, default=50, help="rows to print (default 50)")
    sql.set_defaults(handler=_sql)

    vacuum = commands.add_parser(
        "vacuum",
        parents=[common],
        help="delete table files no version within the retention references (killed writes' leftovers, files "
        "replaced or compacted away)",
    )
    _tables_option(vacuum)
    vacuum.add_argument(
        "--retain-hours",
        type=int,
        default=None,
        metavar="H",
        help="keep every file a version of the last H hours needs (default lake.vacuum_retain_hours, 168)",
    )
    vacuum.add_argument("--dry-run", action="store_true", help="list the files it would delete, delete nothing")
    vacuum.add_argument(
        "--force",
        action="store_true",
        help="accept --retain-hours below 168 (readers of older versions and running writes can lose files)",
    )
    vacuum.set_defaults(handler=_vacuum)

    optimize = commands.add_parser(
        "optimize", parents=[common], help="compact small table files into larger ones (a new version, same rows)"
    )
    _tables_option(optimize)
    optimize.set_defaults(handler=_optimize)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="the whole chain in one Spark session: generate, validate, train both models, score, summarise",
    )
    demo.add_argument("--rows", type=int, default=100_000, help="synthetic customers (default 100,000)")
    demo.set_defaults(handler=_demo)

    config = commands.add_parser("config", parents=[common], help="inspect the merged configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", parents=[common], help="print the merged configuration, secrets masked")
    show.set_defaults(handler=_config_show)
    return parser


_BEFORE = "_before_command"
_LISTS = ("overrides", "overlays")
_SINGLES = ("env", "conf_dir", "verbose")


def _tables_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        dest="tables",
        action="append",
        default=[],
        metavar="T",
        help="only this table (repeatable; default every table of the lake that exists)",
    )


def _common_options(suffix: str) -> argparse.ArgumentParser:
    """The global options, accepted before and after the command. Before it they land in `<dest><suffix>` (a
    subcommand's own values would otherwise replace them); `parse_args` then merges both sides."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--env", dest="env" + suffix, default=argparse.SUPPRESS, help=f"configuration overlay (default {DEFAULT_ENV})"
    )
    common.add_argument(
        "--conf-dir",
        dest="conf_dir" + suffix,
        default=argparse.SUPPRESS,
        help="configuration folder holding base/ and <env>/",
    )
    common.add_argument(
        "--overlay",
        dest="overlays" + suffix,
        action="append",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="your dataset's YAML overlay (a file or folder, e.g. one `customer-ml init` wrote), applied after the "
        f"env (repeatable; also ${OVERLAY_VARIABLE})",
    )
    common.add_argument(
        "--set",
        dest="overrides" + suffix,
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set spark.master=local[2] (repeatable; values are YAML)",
    )
    common.add_argument(
        "-v", "--verbose", dest="verbose" + suffix, action="store_true", default=argparse.SUPPRESS, help="debug logging"
    )
    return common


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; global options given both before and after the command are merged (lists in
    order, a single value after the command wins)."""
    args = build_parser().parse_args(argv)
    for name in _LISTS:
        merged = [*getattr(args, name + _BEFORE, []), *getattr(args, name, [])]
        setattr(args, name, merged)
    for name in _SINGLES:
        if not hasattr(args, name) and hasattr(args, name + _BEFORE):
            setattr(args, name, getattr(args, name + _BEFORE))
    for name in (*_LISTS, *_SINGLES):
        if hasattr(args, name + _BEFORE):
            delattr(args, name + _BEFORE)
    return args


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings a parsed command line asks for. `generate` and `demo` make the example retail bank, so they
    stack its overlay first (an overlay of yours given too still replaces its parts)."""
    overlays = list(getattr(args, "overlays", []))
    if getattr(args, "command", None) in ("demo", "generate"):
        overlays = [EXAMPLE_OVERLAY, *overlays]
    settings = load_settings(
        env=getattr(args, "env", DEFAULT_ENV),
        conf_dir=getattr(args, "conf_dir", None),
        overrides=getattr(args, "overrides", []),
        overlays=overlays,
    )
    return settings.with_tables([getattr(args, "table", None), getattr(args, "input_table", None)])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI. Returns the exit code: 0 ok, 2 for any failure, printed as one line on stderr (with `-v`, after
    its traceback), 130 when interrupted."""
    args = parse_args(argv)
    verbose = getattr(args, "verbose", False)
    configure_logging(verbose=verbose)
    try:
        settings = settings_for(args)
        configure_logging(settings.logging.level, verbose=verbose)
        return args.handler(args, settings)
    except KeyboardInterrupt:
        sys.stderr.write("customer-ml: interrupted (a Delta write either committed whole or not at all)\n")
        return 130
    except Exception as error:  # noqa: BLE001 - every failure ends as one line and exit 2 (the promise)
        if verbose:
            traceback.print_exc()
        hint = "" if isinstance(error, CustomerMLError) or verbose else " (-v for the traceback)"
        sys.stderr.write(f"customer-ml: error: {describe_failure(error)}{hint}\n")
        return 2


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.session import get_spark, java_info, lake_engine, master

    spark = get_spark(settings)
    java = java_info()
    rows = [
        ("customer-ml", _version("customer-ml")),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("java", f"{java.version} ({java.source})"),
        ("spark", spark.version),
        ("delta engine", lake_engine(spark)),
        ("delta-spark", _version("delta-spark")),
        ("deltalake (delta-rs)", _version("deltalake")),
        ("mlflow", _version("mlflow")),
        ("great-expectations", _version("great-expectations")),
        ("env", settings.env),
        ("conf dir", settings.conf_dir),
        ("job files", str(find_jobs_dir())),
        ("master", master(spark)),
        ("work dir", str(settings.work_dir)),
        ("lake root", settings.lake_root),
        ("mlflow tracking uri", masked(settings)["mlflow"]["tracking_uri"] or settings.tracking_uri),
    ]
    width = max(len(name) for name, _ in rows)
    sys.stdout.write("".join(f"{name:<{width}}  {value}\n" for name, value in rows))
    return 0


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.data import generate
    from customer_ml.session import get_spark

    if not 0.0 <= args.drift <= 1.0:
        raise CustomerMLError(f"--drift must be between 0 and 1, got {args.drift}")
    if args.rows is not None and args.rows < 1:
        raise CustomerMLError(f"--rows must be at least 1, got {args.rows}")
    result = generate.run(
        get_spark(settings), settings, rows=args.rows, seed=args.seed, drift=args.drift, partitions=args.partitions
    )
    sys.stdout.write(
        f"generated {result.rows:,} customers into {settings.synthetic.table} (version {result.customers_version}) "
        f"in {result.seconds:.1f} s; positive rate {result.positive_rate:.4f}, "
        f"Bayes-optimal ROC AUC {result.bayes_auc:.4f}\n"
    )
    return 0


def _init(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.data import onboarding
    from customer_ml.session import get_spark

    name = args.name or onboarding.default_name(args.source)
    report = onboarding.run(
        get_spark(settings),
        source=args.source,
        fmt=args.fmt or onboarding.default_format(args.source),
        id_column=args.id_column,
        label=args.label,
        positive=args.positive,
        name=name,
        output=args.output or onboarding.default_output(name),
        force=args.force,
        sep=args.sep.replace("\\t", "\t") if args.sep else None,
    )
    sys.stdout.write("".join(f"  {line}\n" for line in report.summary))
    sys.stdout.write(
        f"{'wrote' if report.changed else 'unchanged:'} {report.path}\n"
        f"next: customer-ml --overlay {report.path} run all   (or the stages: ingest, validate, train-classifier, "
        "train-segmenter, score)\n"
    )
    return 0


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.data import ingest
    from customer_ml.session import get_spark

    reports = ingest.run(
        get_spark(settings),
        settings,
        table=args.table,
        sources=args.sources,
        path=args.path,
        allow_empty=args.allow_empty,
    )
    for report in reports:
        sys.stdout.write(f"ingested {report.rows_written:,} rows into {report.table} (version {report.version})\n")
        for name, rows in report.source_rows.items():
            sys.stdout.write(f"  source {name}: {rows:,} rows from {report.source_paths[name]}\n")
        for name, rows in report.unmatched_rows.items():
            if rows:
                sys.stdout.write(f"  unmatched in join: {name}: {rows:,} rows\n")
        for name, columns in report.not_utf8.items():
            found = ", ".join(f"{column} {characters:,}" for column, characters in columns.items())
            sys.stdout.write(
                f"  not UTF-8 in source {name} (characters read as U+FFFD): {found}; set "
                f"ingest.sources.{name}.options.encoding (e.g. iso-8859-1) if the file has another encoding\n"
            )
    return 0


def _validate(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.session import get_spark
    from customer_ml.validation import stage

    report = stage.run(get_spark(settings), settings, args.table or settings.ingest.table, suite_of=args.suite)
    if report.generic:
        others = (
            f"--suite {' | '.join(settings.validation.suites)} checks it like that table, "
            if (settings.validation.suites)
            else ""
        )
        sys.stdout.write(
            f"no suite configured for {report.table}: generic checks only (rows, key, NaN/Infinity); "
            f"{others}`customer-ml init` proposes a suite\n"
        )
    sys.stdout.write(
        f"validated {report.table}: {report.input_rows:,} rows -> {report.validated_rows:,} validated, "
        f"{report.quarantined_rows:,} quarantined; {report.passed} expectations passed, {report.warned} warned, "
        f"{report.quarantine_failures} quarantine rules hit, {len(report.failed)} failed\n"
        f"  Data Docs: {report.data_docs}\n"
    )
    return 0


def _train_classifier(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import classifier
    from customer_ml.session import get_spark

    result = classifier.run(get_spark(settings), settings, table=args.table)
    metrics = result.metrics
    sys.stdout.write(
        f"trained {result.model_name} version {result.version} ({result.winner}) on {result.input_table} "
        f"v{result.input_version} in {result.seconds:.1f} s; MLflow run {result.run_id}\n"
        + "".join(
            f"  candidate {c.name}: validation PR AUC {c.validation_pr_auc:.4f} ({c.seconds:.1f} s)\n"
            for c in result.candidates
        )
        + f"  test ROC AUC {metrics['test_roc_auc']:.4f}, PR AUC {metrics['test_pr_auc']:.4f}; threshold "
        f"{result.threshold.value:.4f} ({result.threshold.method}): recall {metrics['test_recall']:.3f}, "
        f"precision {metrics['test_precision']:.3f}\n"
        f"  promotion: {'champion' if result.promotion.promoted else 'challenger only'} ({result.promotion.reason})\n"
    )
    return 0


def _train_segmenter(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import segmenter
    from customer_ml.session import get_spark

    if args.k is not None:
        if args.k < 2:
            raise CustomerMLError(f"--k must be at least 2, got {args.k}")
        selection = settings.segmenter.selection.model_copy(update={"k": args.k})
        settings = settings.model_copy(
            update={"segmenter": settings.segmenter.model_copy(update={"selection": selection})}
        )
    result = segmenter.run(get_spark(settings), settings, table=args.table)
    scan = result.scan
    stability = "skipped" if result.stability is None else f"{result.stability:.3f}"
    sizes = result.profiles.drop_duplicates("segment_id").set_index("segment_id")["share"]
    sys.stdout.write(
        f"trained {result.model_name} version {result.version} on {result.input_table} v{result.input_version} "
        f"in {result.seconds:.1f} s; MLflow run {result.run_id}\n"
        f"  k = {result.k} (elbow {scan.elbow}); silhouette {result.silhouette:.3f}; stability (ARI) {stability}\n"
        + "".join(f"  segment {s}: {sizes[s]:6.1%}  {n}\n" for s, n in sorted(result.names.items()))
        + f"  promotion: {'champion' if result.promotion.promoted else 'challenger only'} ({result.promotion.reason})\n"
    )
    return 0


ALERT_EXIT = 3  # `monitor` found drift over an alert level: a scheduler branches on it (2 stays "failed")


def _monitor(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import databricks
    from customer_ml.monitoring import stage
    from customer_ml.session import get_spark

    if not 0 <= args.alert_exit_code <= 255 or args.alert_exit_code == 2:
        raise CustomerMLError(
            f"--alert-exit-code must be 0..255 and not 2 (2 means the monitor failed), got {args.alert_exit_code}"
        )
    stage.inputs.parse_baseline(args.baseline)  # a typo fails before Spark starts
    result = stage.run(get_spark(settings), settings, score_date=args.score_date, baseline=args.baseline)
    sys.stdout.write("".join(line + "\n" for line in stage.summary(result)))
    databricks.set_task_values(databricks.monitor_task_values(len(result.alerts)))  # logged only off Databricks
    return args.alert_exit_code if result.alerts else 0


def _promote(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import tracking

    tracking.configure(settings)
    previous = tracking.promote(settings, args.model, args.version, args.reason)
    name = tracking.model_name(settings, args.model)
    sys.stdout.write(f"{name}@champion: version {previous or 'none'} -> {args.version} ({args.reason})\n")
    return 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _score(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import scoring
    from customer_ml.session import get_spark

    result = scoring.run(
        get_spark(settings),
        settings,
        input_table=args.input_table,
        score_date=args.score_date,
        classifier_version=args.classifier_version,
        segmenter_version=args.segmenter_version,
    )
    sys.stdout.write(
        f"scored {result.rows:,} customers of {result.input_table} (version {result.input_version}) for "
        f"{result.score_date} with {result.classifier} "
        f"and {result.segmenter} in {result.seconds:.1f} s: {result.predicted_positive:,} predicted positive, "
        f"{result.candidates:,} upgrade candidates\n"
        f"  {settings.scoring.scored_table} version {result.scored_version}, "
        f"{settings.scoring.candidates_table} version {result.candidates_version}\n"
    )
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every task that ran succeeded, 2 when one failed (its dependents skipped, the others run), 3
    when a monitor task alerted and no `when: alert` task ran for it."""
    from customer_ml import pipeline
    from customer_ml.session import get_spark

    order = pipeline.plan(settings, args.pipeline)  # an unknown pipeline, stage or dependency fails before Spark
    graph = ", ".join(f"{name} <- {'+'.join(task.depends_on)}" if task.depends_on else name for name, task in order)
    sys.stdout.write(f"run {args.pipeline}: {graph}\n")

    def report(result: pipeline.TaskResult) -> None:
        lines = result.summary.splitlines() or [""]
        status = "" if result.status == pipeline.SUCCEEDED else f"{result.status.upper()}: "
        sys.stdout.write(f"  {result.task:20s}{result.seconds:7.1f} s  {status}{lines[0]}\n")
        sys.stdout.writelines(f"  {'':27s}  {line}\n" for line in lines[1:])
        sys.stdout.flush()

    spark = get_spark(settings)
    done = pipeline.run(
        spark, settings, args.pipeline, score_date=args.score_date, start_from=args.start_from, report=report
    )
    if done.failed or done.unrecorded:
        raise pipeline.failure(done)
    return 3 if done.unhandled_alert else 0


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import sql
    from customer_ml.lake import tables_under_root
    from customer_ml.session import get_spark

    if args.limit < 1:
        raise CustomerMLError(f"--limit must be at least 1, got {args.limit}")
    settings = settings.with_tables(tables_under_root(settings.lake_root))  # e.g. ingested with --table
    frame = sql.query(get_spark(settings), settings, args.statement)
    try:
        text = sql.show(frame, args.limit, args.output)
    except Exception as error:  # noqa: BLE001 - a runtime error of the query (1/0, a bad cast under ANSI)
        raise CustomerMLError(f"SQL error: {describe_failure(error)}") from error
    sys.stdout.write(text)
    return 0


def _vacuum(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import lake

    hours = lake.vacuum_retention(settings, args.retain_hours, force=args.force)  # refused before Spark starts
    spark, names = _lake_tables(settings, args.tables)
    for name in names:
        report = lake.vacuum(spark, name, hours, dry_run=args.dry_run, force=args.force)
        if not report.files:
            sys.stdout.write(f"{name}: nothing to remove (retention {hours} hours)\n")
            continue
        size = "" if report.bytes is None else f" ({_size(report.bytes)})"
        verb = "would remove" if report.dry_run else "removed"
        sys.stdout.write(
            f"{name}: {verb} {len(report.files):,} files{size} that no version of the last {hours} hours references\n"
        )
        if report.dry_run:
            sys.stdout.write("".join(f"  {path}\n" for path in report.files))
    return 0


def _optimize(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import lake

    spark, names = _lake_tables(settings, args.tables)
    for name in names:
        report = lake.optimize(spark, name)
        if report.version is None:
            sys.stdout.write(f"{name}: nothing to compact\n")
            continue
        sys.stdout.write(
            f"{name}: compacted {report.files_removed:,} files ({_size(report.bytes_removed)}) into "
            f"{report.files_added:,} ({_size(report.bytes_added)}), version {report.version}\n"
        )
    return 0


def _lake_tables(settings: Settings, asked: Sequence[str]) -> tuple[SparkSession, list[str]]:
    """The session, and the tables a maintenance command works on: those asked for, else every table that exists
    (configured, or found under the lake root like those ingested with --table)."""
    from customer_ml import lake
    from customer_ml.session import get_spark

    settings = settings.with_tables([*asked, *([] if asked else lake.tables_under_root(settings.lake_root))])
    spark = get_spark(settings)
    names = list(dict.fromkeys(asked)) or [n for n in sorted(settings.tables) if lake.table_exists(spark, n)]
    if not names:
        sys.stdout.write(f"no tables yet under {settings.lake_root}\n")
    return spark, names


def _size(count: float) -> str:
    units = ("bytes", "KB", "MB", "GB")
    step = 0
    while count >= 1024 and step < len(units) - 1:
        count, step = count / 1024, step + 1
    return f"{int(count):,} bytes" if step == 0 else f"{count:,.1f} {units[step]}"


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml import demo

    if args.rows < 1000:
        raise CustomerMLError(f"--rows must be at least 1,000 for the demo, got {args.rows}")
    sys.stdout.write(demo.run(settings, args.rows))
    return 0


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(to_yaml(masked(settings)))
    return 0


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def entry() -> None:
    """The console script `customer-ml` (and a Databricks python_wheel_task's entry point): exits with main's code.
    A runner that calls the entry point and drops its return value (as a wheel task may) still sees a failure, and
    success raises nothing."""
    code = main()
    if code:
        raise SystemExit(code)


if __name__ == "__main__":
    entry()
