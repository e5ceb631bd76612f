"""spark-submit entry point for `customer-ml run PIPELINE` (conf pipelines:, e.g. monthly, retrain, full).

spark-submit jobs/run.py --env cluster monthly [--score-date D] [--from TASK]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
