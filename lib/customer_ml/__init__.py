"""customer-ml: propensity models, segmentation and scoring on Delta Lake with PySpark."""
