"""spark-submit entry point for `customer-ml score`.

spark-submit jobs/score.py --env cluster [options of customer-ml score]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("score")
