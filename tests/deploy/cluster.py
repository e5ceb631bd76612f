"""A Spark standalone cluster on this machine: a master and a worker JVM started from the runtime's pyspark, each in a
process group of its own, stopped by pid (the group) however the test ends."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Cluster:
    url: str
    spark_home: Path
    worker_dir: Path
    logs: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def standalone_cluster(spark_home: Path, folder: Path, env: dict[str, str], cores: int = 2) -> Iterator[Cluster]:
    """Start master and worker, wait until the worker has registered, yield; then stop both by pid."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    worker_dir = folder / "worker"
    env = {**env, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(folder)}
    spark_class = spark_home / "bin" / "spark-class"
    processes: list[subprocess.Popen] = []
    master_log = folder / "master.log"
    try:
        processes.append(
            _start(
                [
                    spark_class,
                    "org.apache.spark.deploy.master.Master",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    port,
                    "--webui-port",
                    free_port(),
                ],
                master_log,
                env,
            )
        )
        _wait_for(master_log, "I have been elected leader", processes[0])
        worker_log = folder / "worker.log"
        processes.append(
            _start(
                [
                    spark_class,
                    "org.apache.spark.deploy.worker.Worker",
                    url,
                    "--host",
                    "127.0.0.1",
                    "--cores",
                    cores,
                    "--memory",
                    "6g",
                    "--work-dir",
                    worker_dir,
                    "--webui-port",
                    free_port(),
                ],
                worker_log,
                env,
            )
        )
        _wait_for(worker_log, "Successfully registered with master", processes[1])
        yield Cluster(url, spark_home, worker_dir, folder)
    finally:
        for process in reversed(processes):
            _stop(process)


def _start(command: list, log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("w", encoding="utf-8") as out:
        return subprocess.Popen(
            [str(c) for c in command], stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _wait_for(log: Path, text: str, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"{log.name}: no '{text}' (exit {process.poll()}):\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (the JVM and its launcher), SIGKILL after 20 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)
    except ProcessLookupError:
        pass
