"""spark-submit entry point for `customer-ml validate`.

spark-submit jobs/validate.py --env cluster [options of customer-ml validate]
"""

import sys

try:
    from customer_ml.cli import main
except ImportError as missing:  # spark-submit ran this file with a Python customer-ml is not installed in
    sys.stderr.write(
        f"customer-ml: error: {sys.executable} cannot import {missing.name}: submit with the Python customer-ml is "
        "installed in (--conf spark.pyspark.python=/path/to/venv/bin/python, or spark.pyspark.driver.python for "
        "the driver alone); README 'Run on a cluster'\n"
    )
    sys.exit(2)

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
