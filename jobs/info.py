"""spark-submit entry point: print versions and locations. The template every job copies.

spark-submit jobs/info.py --env cluster
"""

from customer_ml_job import run

if __name__ == "__main__":
    run("info")
