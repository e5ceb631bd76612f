"""Validation: suites from conf run with Great Expectations; results kept; bad rows quarantined, none lost."""
