"""What every job file runs: `customer-ml COMMAND` with the job's arguments, exiting with its code. spark-submit
puts the job file's folder on the path, so the job files import this by name.

When the Python spark-submit started has no customer-ml (spark.pyspark.python naming another interpreter), the
job says so in one line and exits 2, as every other failure does.
"""

import sys


def run(command: str) -> None:
    try:
        from customer_ml.cli import main
    except ImportError as missing:
        sys.stderr.write(
            f"customer-ml: error: {sys.executable} cannot import {missing.name}: submit with the Python customer-ml "
            "is installed in (--conf spark.pyspark.python=/path/to/venv/bin/python, or spark.pyspark.driver.python "
            "for the driver alone); README 'Run on a cluster'\n"
        )
        sys.exit(2)
    sys.exit(main([command, *sys.argv[1:]]))
