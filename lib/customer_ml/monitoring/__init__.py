"""Monitoring: drift statistics computed with Spark aggregations (only per-bin counts reach the driver)."""
