"""spark-submit entry point for `customer-ml vacuum`.

spark-submit jobs/vacuum.py --env cluster [options of customer-ml vacuum]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("vacuum")
