"""spark-submit entry point for `customer-ml train-segmenter`.

spark-submit jobs/train_segmenter.py --env cluster [options of customer-ml train-segmenter]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("train-segmenter")
