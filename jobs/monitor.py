"""spark-submit entry point for `customer-ml monitor`.

spark-submit jobs/monitor.py --env cluster [options of customer-ml monitor]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("monitor")
