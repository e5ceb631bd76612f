"""The built wheel, installed as a user installs it on a cluster node: a clean venv whose Spark, MLflow and the rest
come from the node's runtime (here: the dev venv's packages, without customer_ml), never from the checkout.

The tests here run `customer-ml` and spark-submit as separate processes, from folders outside the repo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from customer_ml.session import java_info

REPO = Path(__file__).resolve().parents[2]
# What a wheel is built from: everything else in the checkout (tests, bench, .venv) must not matter.
SOURCES = ("setup.py", "pyproject.toml", "README.md", "lib", "conf", "jobs")


@dataclass(frozen=True)
class WheelInstall:
    """The wheel and the venv it is installed into."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def cli(self) -> Path:
        return self.venv / "bin" / "customer-ml"

    @property
    def package(self) -> Path:
        """customer_ml as installed from the wheel."""
        return next((self.venv / "lib").glob("python3*/site-packages/customer_ml"))

    def names(self) -> list[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return archive.namelist()

    def metadata(self) -> str:
        with zipfile.ZipFile(self.wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            return archive.read(name).decode("utf-8")


def run(command: list[str | Path], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command to the end and keep its output (the test prints it when it fails)."""
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def clean_env(**extra: str) -> dict[str, str]:
    """An environment without this test run's Python and Spark variables (a user's shell), Java found as ours is."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYSPARK_", "SPARK_", "CUSTOMER_ML_", "MLFLOW_", "PYTHON", "VIRTUAL_ENV"))
    }
    java = java_info()
    if java.home:
        env["JAVA_HOME"] = java.home
    env.update(extra)
    return env


def _runtime(folder: Path) -> Path:
    """A cluster runtime's site-packages: links to every package of this venv but customer_ml."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("customer_ml", "customer-ml", "__editable__", "_customer_ml")) or name.endswith(".pth"):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="session")
def wheel_install(tmp_path_factory: pytest.TempPathFactory) -> WheelInstall:
    """`pip wheel` of a copy of the checkout, pip-installed (no index: every requirement must be satisfied by the
    runtime, and nothing is pulled) into a clean venv."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    env = clean_env(PATH=os.environ["PATH"])
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", root / "dist", source],
        root,
        env,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = next((root / "dist").glob("customer_ml-*.whl"))

    venv = root / "venv"
    made = run([sys.executable, "-m", "venv", venv], root, env)
    assert made.returncode == 0, made.stderr
    runtime = _runtime(root / "runtime")
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "cluster_runtime.pth").write_text(f"{runtime}\n", encoding="utf-8")
    installed = run([venv / "bin" / "python", "-m", "pip", "install", "--no-index", "--quiet", wheel], root, env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return WheelInstall(wheel, venv)
