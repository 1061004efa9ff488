from __future__ import annotations

import io
import logging
import threading

import pytest
from opentelemetry import trace
from pydantic import ValidationError

from servicekit import logs, tracing
from servicekit.settings import ServiceSettings


def formatted(message: str, logger: str = "UpdateInventoryActivity") -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logs.LOG_FORMAT))
    handler.addFilter(logs.LogContextFilter())
    log = logging.getLogger(logger)
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(message)
    finally:
        log.removeHandler(handler)
        log.propagate = True
    return stream.getvalue().rstrip("\n")


def test_context_is_appended_after_the_default_format() -> None:
    with (
        tracing.tracer().start_as_current_span("activity") as span,
        logs.log_context(order_id="abc"),
    ):
        line = formatted("There are now 9 cars left in stock")

    trace_id = trace.format_trace_id(span.get_span_context().trace_id)
    assert line == (
        "WARNING:UpdateInventoryActivity:There are now 9 cars left in stock "
        f"[order_id=abc trace_id={trace_id}]"
    )


def test_unknown_context_is_a_dash() -> None:
    assert formatted("x").endswith(" [order_id=- trace_id=-]")


def test_log_context_restores_the_outer_context() -> None:
    with logs.log_context(order_id="outer"):
        with logs.log_context(order_id="inner"):
            assert logs.current_order_id() == "inner"
        assert logs.current_order_id() == "outer"
    assert logs.current_order_id() is None


def test_context_does_not_leak_across_threads() -> None:
    seen: list[str | None] = []
    with logs.log_context(order_id="main"):
        thread = threading.Thread(target=lambda: seen.append(logs.current_order_id()))
        thread.start()
        thread.join()

    assert seen == [None]


def test_configure_logging_adds_one_stdout_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        logs.configure_logging("INFO")
        logs.configure_logging("DEBUG")
        ours = [h for h in root.handlers if getattr(h, "_servicekit", False)]
        assert len(ours) == 1
        assert root.level == logging.DEBUG
        assert logging.getLogger("httpx").level == logging.WARNING
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("DAPR_HTTP_PORT", "3601")
    monkeypatch.setenv("DAPR_API_TOKEN", "s3cr3t-token")
    settings = ServiceSettings()

    assert settings.log_level == "DEBUG"
    assert settings.dapr_http_port == 3601
    assert settings.dapr_api_token is not None
    assert "s3cr3t-token" not in repr(settings)


def test_settings_reject_an_unknown_log_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError):
        ServiceSettings()
