"""spark-submit entry point for `customer-ml train-segmenter`.

spark-submit jobs/train_segmenter.py --env cluster [options of customer-ml train-segmenter]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-segmenter", *sys.argv[1:]]))
