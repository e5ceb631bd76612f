"""`customer-ml`: one command per stage, calling the same library functions the jobs/ entry points call."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import platform
import sys
from collections.abc import Callable, Sequence

from customer_ml.config import DEFAULT_ENV, load_settings, masked, to_yaml
from customer_ml.errors import CustomerMLError
from customer_ml.logs import configure_logging
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

Command = Callable[[argparse.Namespace, Settings], int]


def build_parser() -> argparse.ArgumentParser:
    """The CLI's parser; the jobs/ entry points parse their arguments with it too."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default=argparse.SUPPRESS, help=f"configuration overlay (default {DEFAULT_ENV})")
    common.add_argument("--conf-dir", default=argparse.SUPPRESS, help="configuration folder holding base/ and <env>/")
    common.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=argparse.SUPPRESS,
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set spark.master=local[2] (repeatable; values are YAML)",
    )
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")

    parser = argparse.ArgumentParser(
        prog="customer-ml",
        parents=[common],
        description="Customer propensity, segmentation and scoring on Delta Lake.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    info = commands.add_parser("info", parents=[common], help="versions, environment, Spark, lake and MLflow locations")
    info.set_defaults(handler=_info)

    config = commands.add_parser("config", parents=[common], help="inspect the merged configuration")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser("show", parents=[common], help="print the merged configuration, secrets masked")
    show.set_defaults(handler=_config_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI. Returns the exit code: 0 ok, 2 for a customer-ml error (printed as one line)."""
    args = build_parser().parse_args(argv)
    configure_logging(verbose=getattr(args, "verbose", False))
    try:
        settings = load_settings(
            env=getattr(args, "env", DEFAULT_ENV),
            conf_dir=getattr(args, "conf_dir", None),
            overrides=getattr(args, "overrides", []),
        )
        configure_logging(settings.logging.level, verbose=getattr(args, "verbose", False))
        return args.handler(args, settings)
    except CustomerMLError as error:
        sys.stderr.write(f"customer-ml: error: {error}\n")
        return 2


def _info(args: argparse.Namespace, settings: Settings) -> int:
    from customer_ml.session import get_spark, java_info, lake_engine

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
        ("master", spark.sparkContext.master),
        ("work dir", str(settings.work_dir)),
        ("lake root", settings.lake_root),
        ("mlflow tracking uri", masked(settings)["mlflow"]["tracking_uri"] or settings.tracking_uri),
    ]
    width = max(len(name) for name, _ in rows)
    sys.stdout.write("".join(f"{name:<{width}}  {value}\n" for name, value in rows))
    return 0


def _config_show(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(to_yaml(masked(settings)))
    return 0


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


if __name__ == "__main__":
    sys.exit(main())
