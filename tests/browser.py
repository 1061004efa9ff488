"""A real browser for the tests: Debian's chromium, driven by Playwright for Python.

Playwright cannot download a browser build of its own here, so it launches the machine's
chromium (`make setup` installs it, scripts/install-browser.sh). A plugin of the whole suite
(tests/conftest.py), for tests/integration and tests/e2e alike:
- ``browser``: one headless chromium for the session;
- ``page``: a new context and page for each test, 1280x800, whose ``page_events`` records what
  a person would not see but a test must: dialogs (``alert()``: each is recorded and
  dismissed), console errors, Content-Security-Policy violations and uncaught script errors.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
# What a Playwright call waits for at most, unless the test says otherwise.
DEFAULT_TIMEOUT_MS = 10_000
CSP = "Content Security Policy"


def chromium_path() -> str | None:
    """Debian's chromium (CHROMIUM overrides), or None when it is not installed."""
    wanted = os.environ.get("CHROMIUM")
    if wanted:
        return shutil.which(wanted)
    found = shutil.which("chromium")
    if found:
        return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass
class SeenDialog:
    """One dialog a page opened: its kind (alert, confirm, prompt, beforeunload) and text."""

    kind: str
    message: str


@dataclass
class PageEvents:
    """What one page did that shows only in the browser's own channels."""

    dialogs: list[SeenDialog] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(SeenDialog(dialog.type, dialog.message))
        dialog.dismiss()

    def on_console(self, message: ConsoleMessage) -> None:
        if CSP in message.text:
            self.csp_violations.append(message.text)
        if message.type == "error":
            url = message.location.get("url")
            self.console_errors.append(f"{message.text} [{url}]" if url else message.text)

    def on_page_error(self, error: Error) -> None:
        self.page_errors.append(f"{error.name}: {error.message}")

    def unexpected_console_errors(self, *expected: str) -> list[str]:
        """The console errors that match none of the patterns ``expected`` (say, the 401 that
        a page which is not signed in gets for asking whether it is)."""
        return [
            text
            for text in self.console_errors
            if not any(re.search(pattern, text) for pattern in expected)
        ]


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.fail(
            "chromium is not installed: run `make setup` (or `make browser`), which installs "
            "Debian's chromium package; Playwright cannot download a browser here"
        )
    # --no-sandbox: the tests run as root, where chromium's sandbox refuses to start.
    launched = playwright.chromium.launch(
        executable_path=executable, headless=True, args=["--no-sandbox"]
    )
    yield launched
    launched.close()


@pytest.fixture
def page_events() -> PageEvents:
    return PageEvents()


@pytest.fixture
def page(browser: Browser, page_events: PageEvents) -> Iterator[Page]:
    """A page of its own context (no cookies shared with another test), watched."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    opened = context.new_page()
    opened.on("dialog", page_events.on_dialog)
    opened.on("console", page_events.on_console)
    opened.on("pageerror", page_events.on_page_error)
    yield opened
    context.close()
