"""spark-submit entry point for `customer-ml optimize`.

spark-submit jobs/optimize.py --env cluster [options of customer-ml optimize]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("optimize")
