"""spark-submit entry point for `customer-ml sql`.

spark-submit jobs/sql.py --env cluster [options of customer-ml sql]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("sql")
