"""spark-submit entry point for `customer-ml ingest`.

spark-submit jobs/ingest.py --env cluster [options of customer-ml ingest]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("ingest")
