"""spark-submit entry point: print versions and locations. The template every job copies.

spark-submit jobs/info.py --env cluster
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["info", *sys.argv[1:]]))
