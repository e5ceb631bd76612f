"""Named errors: each message says what is wrong, where, and how to fix it."""

from __future__ import annotations


class CustomerMLError(Exception):
    """Base class of every error customer-ml raises on purpose. The CLI prints it as one line and exits 2."""


class ConfigError(CustomerMLError):
    """The configuration is invalid: a file, a key, a value or an environment variable."""


class SparkSetupError(CustomerMLError):
    """Spark (or Java, or the Delta engine asked for) could not be set up."""


class LakeError(CustomerMLError):
    """A table could not be read or written."""


class TableNotFoundError(LakeError):
    """The table does not exist at its configured location."""


class SchemaMismatchError(LakeError):
    """A DataFrame does not match the schema of the table it is written to."""


class UnsupportedTableError(LakeError):
    """The table uses Delta protocol features the offline engine cannot honour."""


class CommitConflictError(LakeError):
    """Another writer committed first and the two commits cannot both stand."""


class SourceError(CustomerMLError):
    """An ingest source is missing, unreadable, or does not fit its description in conf."""


class ValidationError(CustomerMLError):
    """Validation could not run (schema, unknown expectation) or an `error`-severity expectation failed."""
