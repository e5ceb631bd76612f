"""spark-submit entry point for `customer-ml score`.

spark-submit jobs/score.py --env cluster [options of customer-ml score]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["score", *sys.argv[1:]]))
