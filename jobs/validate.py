"""spark-submit entry point for `customer-ml validate`.

spark-submit jobs/validate.py --env cluster [options of customer-ml validate]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("validate")
