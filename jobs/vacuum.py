"""spark-submit entry point for `customer-ml vacuum`.

spark-submit jobs/vacuum.py --env cluster [options of customer-ml vacuum]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["vacuum", *sys.argv[1:]]))
