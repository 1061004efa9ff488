"""The manager's board in a real browser (Debian's chromium, tests/browser.py), the same
tests on two systems: `dapr run -f` with real daprd (tests/integration/test_board.py) and the
local cluster through `kubectl port-forward` (tests/e2e/test_board_on_cluster.py). Each gives
a ``world`` fixture, a ``BoardWorld`` at its order API, and subclasses ``BoardTests``.
Everything goes through the order API, as a manager, an operator and a customer reach it.

The page's contract is its DOM: ``#sign-in``, ``#board``, ``#connection[data-state]``,
``table#waiting``, ``table#orders`` (rows with ``data-outcome``) and ``table#stock``.

Nothing here sleeps: every wait is Playwright's ``expect`` with a timeout that is the promise
being tested (an order placed shows on the open board within ``LIVE_MS``).

With ``BOARD_SCREENSHOT=1`` the screenshot test writes docs/board.png; without it, the same
picture goes to the test's temporary folder (its size is checked either way), so a run of the
suite leaves the repo as it was."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from playwright.sync_api import Locator, Page, expect

from contracts.roles import Role
from tests.browser import CSP, PageEvents
from tests.integration import report
from tests.integration.system import REPO, new_item, wait_for_order

# What a system's order-processor is started with: an approval stays pending long after a
# test, since an order waits for whoever decides it.
APPROVAL_TIMEOUT_SECONDS = 300
# The board's promise: an order placed shows on the open page within this, no reload.
LIVE_MS = 1000
# From a decision to the order's end on the page: payment and the stock's commit, two services.
DECIDED_MS = 15_000
# A decision made elsewhere (orderctl) shows on the open page within this.
ELSEWHERE_MS = 5000
SIGN_IN_MS = 10_000
HOSTILE = "<img src=x onerror=alert(1)>"
SCREENSHOT = REPO / "docs" / "board.png"
SCREENSHOT_MAX_BYTES = 200_000
# Console errors the browser logs for answers the board means: a page not signed in asks
# whether it is (GET /board/session: 401), a refused sign-in (POST: 401), and the browser's own
# request for /favicon.ico, which the board does not serve.
EXPECTED_CONSOLE_ERRORS = (
    r"status of 401 \(UNAUTHORIZED\) \[http://[^/]+/board/session\]$",
    r"status of 404 \(NOT FOUND\) \[http://[^/]+/favicon\.ico\]$",
)


@dataclass
class BoardWorld:
    """A running system's order API (``url``) and its role tokens; ``scratch`` is a folder
    of the test run's own."""

    url: str
    tokens: Mapping[Role, str]
    scratch: Path
    api: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.api = httpx.Client(base_url=self.url, timeout=10)

    @property
    def board_url(self) -> str:
        return f"{self.url}/board"

    @property
    def manager_token(self) -> str:
        return self.tokens[Role.MANAGER]

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def restock(self, item: str, quantity: int, unit_price: int) -> httpx.Response:
        """``PUT /inventory/<item>``, as an operator."""
        return self.api.put(
            f"/inventory/{quote(item, safe='')}",
            json={"quantity": quantity, "unit_price": unit_price},
            headers=self.bearer(Role.OPERATOR),
        )

    def stocked(self, item: str, quantity: int = 20, unit_price: int = 5000) -> str:
        response = self.restock(item, quantity, unit_price)
        assert response.status_code == 200, response.text
        return item

    def stock(self, item: str) -> int:
        response = self.api.get(f"/inventory/{quote(item, safe='')}")
        assert response.status_code == 200, response.text
        return int(response.json()["quantity"])

    def place(self, item: str, quantity: int) -> str:
        """``POST /orders``, as a customer; the order's id."""
        response = self.api.post(
            "/orders", json={"item": item, "quantity": quantity}, headers=self.bearer(Role.CUSTOMER)
        )
        assert response.status_code == 202, response.text
        return str(response.json()["order_id"])

    def awaiting(self, item: str | None = None) -> str:
        """An order of 11 at 5 000 USD (55 000 USD), placed and waiting for a manager."""
        order_id = self.place(self.stocked(item or new_item()), 11)
        self.wait_for(order_id, step="awaiting_approval")
        return order_id

    def decide(self, order_id: str, *, approved: bool) -> httpx.Response:
        """``POST /orders/<id>/approval``, as a manager."""
        return self.api.post(
            f"/orders/{order_id}/approval",
            json={"approved": approved},
            headers=self.bearer(Role.MANAGER),
        )

    def status(self, order_id: str) -> dict[str, Any]:
        response = self.api.get(f"/orders/{order_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def wait_for(
        self, order_id: str, *, step: str | None = None, deadline_s: float = 60
    ) -> dict[str, Any]:
        return wait_for_order(self.api, order_id, step=step, deadline_s=deadline_s)

    def payment_record(self, order_id: str) -> dict[str, Any] | None:
        """``GET /payments/<id>``, as an operator; None when the order was never charged."""
        response = self.api.get(f"/payments/{order_id}", headers=self.bearer(Role.OPERATOR))
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return dict(response.json())

    def session(self) -> tuple[str, str]:
        """(session cookie, CSRF token) of a sign-in with the manager's token, as a script
        outside any browser gets them."""
        response = httpx.post(
            f"{self.board_url}/session", json={"token": self.manager_token}, timeout=10
        )
        assert response.status_code == 200, response.text
        cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        return cookie, str(response.json()["csrf_token"])


def sign_in(page: Page, world: BoardWorld, *, url: str | None = None) -> Page:
    """The board, opened and signed in with the manager's token, its stream live."""
    page.goto(url or world.board_url)
    expect(page.locator("form#sign-in")).to_be_visible()
    page.locator("input#token").fill(world.manager_token)
    page.locator("form#sign-in [type=submit]").click()
    expect(page.locator("#board")).to_be_visible(timeout=SIGN_IN_MS)
    expect(page.locator("form#sign-in")).to_be_hidden()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=SIGN_IN_MS)
    return page


def waiting_row(page: Page, order_id: str) -> Locator:
    return page.locator(f'table#waiting tbody tr[data-order-id="{order_id}"]')


def order_row(page: Page, order_id: str) -> Locator:
    return page.locator(f'table#orders tbody tr[data-order-id="{order_id}"]')


def stock_row(page: Page, item: str) -> Locator:
    return page.locator(f'table#stock tbody tr[data-item="{item}"]')


def digits(locator: Locator) -> str:
    """A number cell's digits, whatever the page's grouping (55000, 55,000, 55 000)."""
    return re.sub(r"\D", "", locator.inner_text())


def assert_quiet(events: PageEvents, *expected: str) -> None:
    """No dialog, no CSP violation, no uncaught script error, no other console error."""
    assert events.dialogs == []
    assert events.csp_violations == []
    assert events.page_errors == []
    assert events.unexpected_console_errors(*EXPECTED_CONSOLE_ERRORS, *expected) == []


def navigations(page: Page) -> int:
    return int(page.evaluate("performance.getEntriesByType('navigation').length"))


def first_board_event(world: BoardWorld) -> dict[str, Any]:
    """The first ``board`` event of a real ``GET /board/events``, as JSON."""
    cookie, _ = world.session()
    with httpx.stream(
        "GET", f"{world.board_url}/events", headers={"Cookie": cookie}, timeout=10
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                return dict(json.loads(line.removeprefix("data: ")))
    raise AssertionError("the board's stream ended before its first event")


class BoardTests:
    """What a manager sees and does at ``/board``, and what a request without the board's
    session gets; a subclass runs them on its system's ``world``."""

    def test_screenshot_of_one_order_waiting_and_one_completed(
        self, world: BoardWorld, page: Page, page_events: PageEvents, tmp_path: Path
    ) -> None:
        """The board with one order waiting for approval and one completed (docs/board.png)."""
        world.stocked("cars", 30, 5000)
        done = world.place("cars", 11)
        world.wait_for(done, step="awaiting_approval")
        assert world.decide(done, approved=True).status_code == 202
        assert world.wait_for(done)["result"]["processed"] is True
        # Not trucks: the README's walkthrough orders those, on the same cluster (make e2e).
        world.stocked("tractors", 12, 8000)
        waiting = world.place("tractors", 7)  # 56 000 USD
        world.wait_for(waiting, step="awaiting_approval")

        sign_in(page, world)
        expect(waiting_row(page, waiting)).to_be_visible()
        expect(order_row(page, done)).to_have_attribute("data-outcome", "completed")
        expect(order_row(page, waiting)).to_have_attribute("data-outcome", "awaiting_approval")
        expect(stock_row(page, "cars").locator("td.quantity")).to_have_text("19")

        target = SCREENSHOT if os.environ.get("BOARD_SCREENSHOT") == "1" else tmp_path / "board.png"
        page.screenshot(path=str(target))
        size = target.stat().st_size
        report.record(f"board screenshot: {size / 1000:.0f} KB, 1280x800 ({target})")
        assert size < SCREENSHOT_MAX_BYTES
        assert_quiet(page_events)

    def test_an_order_over_the_threshold_shows_live_and_approve_completes_it(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        world.stocked("cars", 30, 5000)
        sign_in(page, world)
        cars = stock_row(page, "cars")
        expect(cars.locator("td.quantity")).to_have_text("30")
        expect(cars.locator("td.unit-price")).to_contain_text("5")
        page.evaluate("window.__loadedOnce = true")

        order_id = world.place("cars", 11)  # 55 000 USD: over 50 000, it waits for a manager
        answered = time.monotonic()
        row = waiting_row(page, order_id)
        expect(row).to_be_visible(timeout=LIVE_MS)
        shown_s = time.monotonic() - answered
        report.record(
            f"board: an order placed shows on the open board {shown_s * 1000:.0f} ms later"
        )

        assert page.evaluate("window.__loadedOnce") is True
        assert navigations(page) == 1
        expect(row.locator("td.item")).to_have_text("cars")
        expect(row.locator("td.quantity")).to_have_text("11")
        assert digits(row.locator("td.total")) == "55000"
        expect(row.locator("td.waited")).not_to_be_empty()
        expect(order_row(page, order_id)).to_have_attribute("data-outcome", "awaiting_approval")

        row.locator("button.approve").click()

        expect(order_row(page, order_id)).to_have_attribute(
            "data-outcome", "completed", timeout=DECIDED_MS
        )
        expect(row).to_have_count(0)
        expect(cars.locator("td.quantity")).to_have_text("19")  # 30 - 11
        assert world.status(order_id)["result"]["processed"] is True
        assert world.stock("cars") == 19
        done = order_row(page, order_id)
        assert digits(done.locator("td.total")) == "55000"
        expect(done.locator("td.steps")).to_contain_text("completed")
        expect(done.locator("a.trace")).to_have_attribute("href", re.compile(order_id))
        assert page.evaluate("window.__loadedOnce") is True
        assert navigations(page) == 1
        assert_quiet(page_events)

    def test_reject_ends_the_order_as_rejected(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        sign_in(page, world)
        item = world.stocked(new_item())
        order_id = world.place(item, 11)
        row = waiting_row(page, order_id)
        expect(row).to_be_visible(timeout=LIVE_MS)

        row.locator("button.reject").click()

        expect(order_row(page, order_id)).to_have_attribute(
            "data-outcome", "approval_rejected", timeout=DECIDED_MS
        )
        expect(row).to_have_count(0)
        result = world.status(order_id)["result"]
        assert (result["processed"], result["reason"]) == (False, "approval_rejected")
        expect(stock_row(page, item).locator("td.quantity")).to_have_text("20")  # released
        assert world.payment_record(order_id) is None
        assert_quiet(page_events)

    def test_a_decision_made_with_orderctl_shows_on_the_open_board(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        sign_in(page, world)
        order_id = world.awaiting()
        expect(waiting_row(page, order_id)).to_be_visible(timeout=LIVE_MS)

        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_TOKEN")}
        env |= {
            "ORDERCTL_URL": world.url,
            "MANAGER_API_TOKEN": world.manager_token,
            # Never this machine's tokens file (which holds `make run`'s tokens).
            "ORDER_API_TOKENS": str(world.scratch / "no-tokens-file"),
            "NO_COLOR": "1",
        }
        started = time.monotonic()
        done = subprocess.run(
            ["uv", "run", "--frozen", "orderctl", "approve", order_id],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        decided = time.monotonic()

        expect(order_row(page, order_id)).to_have_attribute(
            "data-outcome", "completed", timeout=ELSEWHERE_MS
        )
        expect(waiting_row(page, order_id)).to_have_count(0)
        report.record(
            f"board: `orderctl approve` took {decided - started:.1f} s; the order showed as"
            f" completed {time.monotonic() - decided:.1f} s after it returned"
        )
        assert navigations(page) == 1
        assert_quiet(page_events)

    def test_a_hostile_item_name_is_refused_and_hostile_text_renders_as_text(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        # The name itself: item names are lowercase keys (contracts.fields.ItemName), so the API
        # refuses it before it could be stored, let alone shown.
        refused = world.restock(HOSTILE, 20, 5000)
        assert refused.status_code in {400, 404, 422}, refused.text
        assert HOSTILE not in {item["name"] for item in world.api.get("/inventory").json()["items"]}

        # Text that the rules let through: the sign-in token (any text), refused with a message...
        page.goto(f"{world.board_url}?q={quote(HOSTILE)}#{HOSTILE}")
        page.locator("input#token").fill(HOSTILE)
        with page.expect_response(f"{world.board_url}/session") as answer:
            page.locator("form#sign-in [type=submit]").click()
        assert answer.value.status == 401
        expect(page.locator("#sign-in-error")).not_to_be_empty()
        expect(page.locator("#sign-in-error img")).to_have_count(0)

        # ...then the board itself, from that URL, with the most hostile names the rules allow: a
        # JavaScript prototype's key, and the hostile markup reduced to the names' alphabet.
        sign_in(page, world, url=f"{world.board_url}?q={quote(HOSTILE)}#{HOSTILE}")
        names = ["constructor", "img-src-x-onerror-alert-1-" + "x" * 38]
        orders = {name: world.place(world.stocked(name), 11) for name in names}
        for name, order_id in orders.items():
            row = waiting_row(page, order_id)
            expect(row).to_be_visible(timeout=DECIDED_MS)
            expect(row.locator("td.item")).to_have_text(name)
            assert row.locator("td.item").evaluate("td => td.textContent") == name
            assert (
                order_row(page, order_id).locator("td.item").evaluate("td => td.textContent")
                == name
            )
            stock = stock_row(page, name)
            expect(stock).to_have_count(1)
            assert stock.locator("td").first.evaluate("td => td.textContent") == name

        expect(page.locator("#board img")).to_have_count(0)
        assert page.locator("img").count() == 0
        assert_quiet(page_events)

    def test_the_page_renders_a_hostile_name_as_text_when_the_stream_carries_one(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        """The API cannot store markup in a name, so the renderer is fed one anyway: the board's
        real state, read from its real stream, with one item renamed to the hostile text, served
        to the page in place of ``/board/events``. Everything else (sign-in, session) is real."""
        item = world.stocked(new_item())
        order_id = world.place(item, 11)
        world.wait_for(order_id, step="awaiting_approval")
        state = first_board_event(world)
        assert item in {order["item"] for order in state["orders"]}
        for entry in state["orders"]:
            if entry["item"] == item:
                entry["item"] = HOSTILE
        for entry in state["stock"]:
            if entry["name"] == item:
                entry["name"] = HOSTILE
        stream = f"retry: 60000\n\nevent: board\ndata: {json.dumps(state)}\n\n"
        page.route(
            "**/board/events",
            lambda route: route.fulfill(
                status=200, headers={"Content-Type": "text/event-stream"}, body=stream
            ),
        )

        page.goto(world.board_url)
        page.locator("input#token").fill(world.manager_token)
        page.locator("form#sign-in [type=submit]").click()

        row = waiting_row(page, order_id)
        expect(row).to_be_visible(timeout=SIGN_IN_MS)
        for cell in (row.locator("td.item"), order_row(page, order_id).locator("td.item")):
            expect(cell).to_have_text(HOSTILE)
            assert cell.evaluate("td => td.textContent") == HOSTILE
        stock = page.locator("table#stock tbody tr", has_text=HOSTILE)
        expect(stock).to_have_count(1)
        assert stock.get_attribute("data-item") == HOSTILE
        assert stock.locator("td").first.evaluate("td => td.textContent") == HOSTILE
        # An <img onerror> would have fired by now: the document is complete and the rows drawn.
        page.wait_for_function("document.readyState === 'complete'")
        assert page.locator("img").count() == 0
        assert_quiet(page_events)

    def test_a_decision_without_the_session_or_its_csrf_token_is_refused(
        self, world: BoardWorld
    ) -> None:
        order_id = world.awaiting()
        decision = f"{world.board_url}/orders/{order_id}/decision"
        cookie, csrf = world.session()
        _, other_csrf = world.session()
        assert csrf != other_csrf

        def post(**headers: str) -> httpx.Response:
            return httpx.post(decision, json={"approved": True}, headers=headers, timeout=10)

        refusals = {
            "no session": (post(), 401),
            "no session, a CSRF token": (post(**{"X-CSRF-Token": csrf}), 401),
            "session, no CSRF token": (post(Cookie=cookie), 403),
            "session, forged CSRF token": (post(Cookie=cookie, **{"X-CSRF-Token": "f" * 43}), 403),
            "session, another session's CSRF token": (
                post(Cookie=cookie, **{"X-CSRF-Token": other_csrf}),
                403,
            ),
            "session and its CSRF token, from another site": (
                post(Cookie=cookie, Origin="http://evil.example", **{"X-CSRF-Token": csrf}),
                403,
            ),
            "the manager's bearer token, not the session": (
                post(Authorization=f"Bearer {world.manager_token}"),
                401,
            ),
        }
        for what, (response, status) in refusals.items():
            assert response.status_code == status, (what, response.status_code, response.text)
            assert response.headers["Content-Type"].startswith("application/json"), what
            assert response.json()["error"] in {"unauthorized", "forbidden"}, (what, response.text)
        assert world.status(order_id)["step"] == "awaiting_approval"

        # The same session with its own token is let through: the refusals were the missing parts.
        accepted = post(Cookie=cookie, **{"X-CSRF-Token": csrf})
        assert accepted.status_code == 202, accepted.text
        assert world.wait_for(order_id)["result"]["processed"] is True

    def test_the_session_cookie_is_httponly_and_samesite_strict(self, world: BoardWorld) -> None:
        response = httpx.post(
            f"{world.board_url}/session", json={"token": world.manager_token}, timeout=10
        )
        assert response.status_code == 200, response.text
        attributes = {part.strip().lower() for part in response.headers["Set-Cookie"].split(";")}
        assert {"httponly", "samesite=strict"} <= attributes
        assert world.manager_token not in response.headers["Set-Cookie"]
        cookie = response.headers["Set-Cookie"].split(";", 1)[0]
        signed_in = httpx.get(f"{world.board_url}/session", headers={"Cookie": cookie}, timeout=10)
        assert signed_in.status_code == 200
        assert signed_in.json()["csrf_token"] == response.json()["csrf_token"]
        assert httpx.get(f"{world.board_url}/session", timeout=10).status_code == 401

    def test_a_wrong_sign_in_is_refused(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        page.goto(world.board_url)
        page.locator("input#token").fill(world.tokens[Role.OPERATOR])
        with page.expect_response(f"{world.board_url}/session") as answer:
            page.locator("form#sign-in [type=submit]").click()

        assert answer.value.status == 401
        assert answer.value.request.method == "POST"
        assert answer.value.json()["error"] == "unauthorized"
        expect(page.locator("#sign-in-error")).not_to_be_empty()
        expect(page.locator("form#sign-in")).to_be_visible()
        expect(page.locator("#board")).to_be_hidden()
        assert page.context.cookies() == []
        assert_quiet(page_events)

    def test_the_page_allows_no_inline_script_and_the_board_breaks_no_csp_rule(
        self, world: BoardWorld, page: Page, page_events: PageEvents
    ) -> None:
        response = page.goto(world.board_url)
        assert response is not None
        assert response.status == 200
        csp = response.headers["content-security-policy"]
        directives = {
            name: values
            for name, *values in (part.split() for part in csp.split(";") if part.strip())
        }
        script_src = directives.get("script-src", directives.get("default-src"))
        assert script_src is not None, csp
        assert "'unsafe-inline'" not in script_src, csp
        assert "'unsafe-eval'" not in script_src, csp
        assert "*" not in script_src, csp

        sign_in(page, world, url=world.board_url)
        order_id = world.awaiting()
        expect(waiting_row(page, order_id)).to_be_visible(timeout=DECIDED_MS)
        waiting_row(page, order_id).locator("button.approve").click()
        expect(order_row(page, order_id)).to_have_attribute(
            "data-outcome", "completed", timeout=DECIDED_MS
        )
        assert_quiet(page_events)

        # The browser enforces it: an inline script added to the page does not run, and says so.
        with page.expect_console_message(lambda message: CSP in message.text):
            page.evaluate(
                "() => { const s = document.createElement('script');"
                " s.textContent = 'window.__inline = true'; document.body.append(s); }"
            )
        assert page.evaluate("window.__inline === undefined")
        assert page_events.csp_violations
