"""spark-submit entry point for `customer-ml train-classifier`.

spark-submit jobs/train_classifier.py --env cluster [options of customer-ml train-classifier]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("train-classifier")
