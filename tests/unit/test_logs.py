from __future__ import annotations

import logging

import pytest

from customer_ml.logs import stage


def test_stage_logs_start_counts_and_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="customer_ml")
    with stage("validate") as record:
        assert record.count("input", 1200) == 1200
        record.count("quarantined", 7)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "validate: started"
    assert "validate: quarantined rows = 7" in messages
    assert messages[-1].startswith("validate: finished in ")
    assert messages[-1].endswith("(input=1,200, quarantined=7)")
    assert record.rows == {"input": 1200, "quarantined": 7}
    assert record.seconds >= 0


def test_stage_logs_failure_and_reraises(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="customer_ml")
    with pytest.raises(ValueError, match="boom"), stage("score"):
        raise ValueError("boom")
    assert caplog.records[-1].levelname == "ERROR"
    assert caplog.records[-1].getMessage().startswith("score: failed after ")


def test_the_log_follows_sys_stderr_when_it_is_swapped(monkeypatch: pytest.MonkeyPatch) -> None:
    """main() called twice in one process (tests, notebooks) must not write to the first call's closed stderr."""
    import io
    import sys

    from customer_ml.logs import configure_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging("INFO")
    logging.getLogger("customer_ml.test").info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    configure_logging("INFO")
    logging.getLogger("customer_ml.test").info("two")
    assert "customer_ml.test: two" in second.getvalue()
    assert "Logging error" not in second.getvalue()
