"""The browser fixtures (tests/browser.py) see what a test relies on them to see: a script that
runs, a dialog it opens, a console error, a Content-Security-Policy violation. No server: each
page is a data: URL."""

from __future__ import annotations

from urllib.parse import quote

from playwright.sync_api import Page, expect

from tests.browser import PageEvents


def data_url(html: str) -> str:
    return "data:text/html," + quote(html)


def test_a_script_runs_and_its_alert_is_recorded_and_dismissed(
    page: Page, page_events: PageEvents
) -> None:
    page.goto(data_url("<p id=out>before</p>"))
    assert page_events.dialogs == []

    page.evaluate("document.getElementById('out').textContent = 'after'; alert('hello')")

    # alert() blocks the page until it is dismissed: the script went on, so it was.
    expect(page.locator("#out")).to_have_text("after")
    assert [(d.kind, d.message) for d in page_events.dialogs] == [("alert", "hello")]
    assert page.evaluate("1 + 1") == 2


def test_an_alert_from_markup_is_recorded_too(page: Page, page_events: PageEvents) -> None:
    page.goto(data_url("<img src=x onerror=alert(1)>"))

    expect(page.locator("img")).to_have_count(1)
    page.wait_for_function("document.readyState === 'complete'")
    assert [(d.kind, d.message) for d in page_events.dialogs] == [("alert", "1")]


def test_console_errors_csp_violations_and_uncaught_errors_are_recorded(
    page: Page, page_events: PageEvents
) -> None:
    page.goto(
        data_url(
            "<meta http-equiv=Content-Security-Policy content=\"script-src 'none'\">"
            "<p>no scripts here</p><script>window.ran = true</script>"
        )
    )
    page.wait_for_function("document.readyState === 'complete'")
    assert page.evaluate("window.ran === undefined")  # evaluate is not a page script

    # The timer throws before the promise's own timer resolves: the error is in by then.
    page.evaluate(
        "console.error('spilled');"
        "setTimeout(() => { throw new Error('boom') });"
        "new Promise((done) => setTimeout(done))"
    )

    assert any("script-src 'none'" in v for v in page_events.csp_violations), page_events
    assert "spilled" in page_events.console_errors
    assert page_events.page_errors == ["Error: boom"]
    assert page_events.unexpected_console_errors("^spilled$", "Content Security Policy") == []
    assert page_events.unexpected_console_errors("^spilled$") != []
    expect(page.locator("p")).to_have_text("no scripts here")
    assert page_events.dialogs == []
