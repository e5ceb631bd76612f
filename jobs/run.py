"""spark-submit entry point for `customer-ml run PIPELINE` (conf pipelines:, e.g. monthly, retrain, full).

spark-submit jobs/run.py --env cluster monthly [--score-date D] [--from TASK]
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("run")
