"""spark-submit entry point for `customer-ml generate`.

spark-submit jobs/generate.py --env cluster [options of customer-ml generate]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
