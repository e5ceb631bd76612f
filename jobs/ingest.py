"""spark-submit entry point for `customer-ml ingest`.

spark-submit jobs/ingest.py --env cluster [options of customer-ml ingest]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
