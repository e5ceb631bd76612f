"""spark-submit entry point for `customer-ml monitor`.

spark-submit jobs/monitor.py --env cluster [options of customer-ml monitor]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["monitor", *sys.argv[1:]]))
