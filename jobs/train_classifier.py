"""spark-submit entry point for `customer-ml train-classifier`.

spark-submit jobs/train_classifier.py --env cluster [options of customer-ml train-classifier]
"""

import sys

from customer_ml.cli import main

if __name__ == "__main__":
    sys.exit(main(["train-classifier", *sys.argv[1:]]))
