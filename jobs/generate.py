"""spark-submit entry point for `customer-ml generate`.

spark-submit jobs/generate.py --env cluster [options of customer-ml generate]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("generate")
