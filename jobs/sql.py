"""spark-submit entry point for `customer-ml sql`.

spark-submit jobs/sql.py --env cluster [options of customer-ml sql]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["sql", *sys.argv[1:]]))
