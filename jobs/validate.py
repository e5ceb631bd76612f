"""spark-submit entry point for `customer-ml validate`.

spark-submit jobs/validate.py --env cluster [options of customer-ml validate]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
