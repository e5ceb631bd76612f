"""describe_failure: one line for what nobody raised on purpose."""

from __future__ import annotations

import errno

from customer_ml.errors import ConfigError, describe_failure


def test_our_own_errors_are_their_message() -> None:
    assert describe_failure(ConfigError("conf/x.yml: unknown key 'y'")) == "conf/x.yml: unknown key 'y'"


def test_file_system_faults_name_the_fix_and_the_file() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/lake/t/part-0.parquet")
    assert describe_failure(full) == (
        "no space left on the device: free space, or point project.work_dir / lake.root elsewhere "
        "(/lake/t/part-0.parquet)"
    )
    wrapped = RuntimeError("writing failed")
    wrapped.__cause__ = OSError(errno.EROFS, "Read-only file system", "/lake/t")
    assert describe_failure(wrapped).startswith("read-only file system: point project.work_dir")


def test_a_task_failure_report_is_searched_for_the_fault_and_skips_code_paths() -> None:
    report = (
        "An error occurred while calling o88.save.\n: org.apache.spark.SparkException: Job aborted due to stage "
        'failure: Task 0 failed\n  File "/venv/site-packages/x/sink.py", line 9, in write\n'
        "OSError: [Errno 28] Error writing bytes to file. Detail: [errno 28] No space left on device\n"
    )
    assert describe_failure(Exception(report)) == (
        "no space left on the device: free space, or point project.work_dir / lake.root elsewhere"
    )


def test_spark_conditions_keep_their_first_line_and_get_a_hint_where_we_have_one() -> None:
    read = Exception(
        "[FAILED_READ_FILE.NO_HINT] Encountered error while reading file file:///lake/t/part-0.parquet.  "
        "SQLSTATE: KD001\n\tat org.apache.spark..."
    )
    assert describe_failure(read).startswith("[FAILED_READ_FILE.NO_HINT] Encountered error while reading file")
    assert describe_failure(read).endswith("`customer-ml history TABLE` lists the versions)")
    java = Exception("An error occurred while calling o1.x.\n: java.lang.IllegalStateException: the state is bad\n")
    assert describe_failure(java) == "Exception: the state is bad"
    assert describe_failure(KeyError("k")) == "KeyError: 'k'"


def test_a_python_task_failure_is_what_the_worker_raised() -> None:
    report = (
        "An exception was thrown from the Python worker:\nTraceback (most recent call last):\n"
        '  File "/jobs/udf.py", line 15, in boom\n    raise RuntimeError("bad row")\nRuntimeError: bad row\n'
    )
    assert describe_failure(Exception(report)) == "a Spark task failed in Python: RuntimeError: bad row"


def test_an_executor_python_without_our_packages_names_the_fix() -> None:
    """A data source writer unpickled by a worker whose Python lacks customer_ml (spark.pyspark.python pointing at
    the system Python): the report's first line ends in 'Traceback …'; the line names the module and the setting."""
    report = (
        "[PYTHON_DATA_SOURCE_ERROR] Failed to initialize Python data source writer: Traceback (most recent call "
        'last):\n  File "/x/pyspark.zip/pyspark/serializers.py", line 454, in loads\n'
        "    return cloudpickle.loads(obj, encoding=encoding)\n"
        "ModuleNotFoundError: No module named 'customer_ml'\n SQLSTATE: 38000\n"
    )
    line = describe_failure(Exception(report))
    assert line.startswith("a Spark task failed in Python: ModuleNotFoundError: No module named 'customer_ml' (")
    assert "without 'customer_ml'" in line and "spark.pyspark.python" in line and "\n" not in line
