"""spark-submit entry point for `customer-ml optimize`.

spark-submit jobs/optimize.py --env cluster [options of customer-ml optimize]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["optimize", *sys.argv[1:]]))
