"""The ``orderctl`` commands: what a person at a terminal does with the order API.

Exit codes are the contract for scripts: 0 the order was processed (or the command did what it
was asked), 1 the order was not processed (or had not ended by ``--timeout``), 2 a usage error,
an API error, or no API at all (for ``demo``: the demo did not get done, its deadline
included). ``--json`` prints the API's own JSON, one document per command, and nothing else on
stdout; ``demo`` prints the seed's lines and has no ``--json``.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click
import httpx
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.status import Status
from rich.table import Table

from contracts.orders import FailureReason, OrderStatus, Step
from orderctl import demo
from orderctl.client import DEFAULT_URL, ENDED, ApiError, ApiUnreachableError, OrderClient
from orderctl.credentials import MissingTokenError

EXIT_OK, EXIT_NOT_PROCESSED, EXIT_ERROR = 0, 1, 2
DEFAULT_TIMEOUT_S = 300.0

# What each step means to someone watching; the keys are the workflow's own step names.
STEP_TEXT: dict[Step, str] = {
    "verifying_inventory": "checking stock and reserving it",
    "awaiting_approval": "over 50,000 USD: waiting for a manager's decision",
    "processing_payment": "charging the payment",
    "updating_inventory": "taking the reserved stock",
    "compensating": "undoing what was done: releasing the stock (and refunding, if paid)",
    "completed": "done",
    "failed": "stopped",
}
REASON_TEXT: dict[FailureReason, str] = {
    "insufficient_inventory": "not enough stock",
    "approval_rejected": "a manager rejected it; its stock was released",
    "approval_timeout": "no manager decided in time; its stock was released",
    "payment_declined": "the payment was declined; its stock was released",
    "inventory_update_failed": "its stock could not be taken; the payment was refunded",
}


@dataclass
class Session:
    """What every command needs, built once from the global options."""

    client: OrderClient
    json: bool
    out: Console
    # The --url a pasted command needs: set only when it was given on the command line
    # (the default and ORDERCTL_URL carry over to the user's next command by themselves).
    url_option: str | None = None

    def command(self, *words: str) -> str:
        """An orderctl command line the user can paste as it is."""
        url = [] if self.url_option is None else ["--url", self.url_option]
        return " ".join(["orderctl", *url, *words])


class _Cli(click.Group):
    """Turns the client's failures (and a token it cannot find) into one clear line on stderr
    and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MissingTokenError as err:
            _fail(f"{ctx.invoked_subcommand} {err}")
        except ApiUnreachableError as err:
            _fail(f"{err}; is `make run` running?")
        except ApiError as err:
            session = ctx.obj if isinstance(ctx.obj, Session) else None
            if session is not None and session.json and err.body is not None:
                _print_json(err.body)
            _fail(err.describe())


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"orderctl: {message}", err=True)
    raise click.exceptions.Exit(code)


def _print_json(model: BaseModel) -> None:
    click.echo(model.model_dump_json())


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="ORDERCTL_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="The order API (order-processor).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON only: no colours.")
@click.pass_context
def cli(ctx: click.Context, url: str, as_json: bool) -> None:
    """Place orders, follow their workflow step by step, approve them, restock."""
    # Tests hand in an httpx transport as the context object; users never do.
    transport = ctx.obj if isinstance(ctx.obj, httpx.BaseTransport) else None
    client = ctx.with_resource(OrderClient(url, transport=transport))
    given = ctx.get_parameter_source("url") == click.core.ParameterSource.COMMANDLINE
    ctx.obj = Session(
        client=client,
        json=as_json,
        out=Console(highlight=False, soft_wrap=True, no_color=as_json),
        url_option=client.base_url if given else None,
    )


pass_session = click.make_pass_decorator(Session)


F = TypeVar("F", bound=Callable[..., Any])


def seconds_option(name: str, default: float, help_text: str) -> Callable[[F], F]:
    """A --wait option that takes a number of seconds."""
    return click.option(
        name,
        type=click.FloatRange(min=0),
        default=default,
        show_default=True,
        help=f"With --wait: {help_text}",
    )


@cli.command()
@click.argument("item")
@click.argument("quantity", type=click.IntRange(min=1))
@click.option(
    "--wait", is_flag=True, help="Follow the order until it ends; exit 1 if not processed."
)
@seconds_option("--timeout", DEFAULT_TIMEOUT_S, "give up after this many seconds (exit 1).")
@pass_session
def place(session: Session, *, item: str, quantity: int, wait: bool, timeout: float) -> None:
    """Order QUANTITY of ITEM; --wait follows it live.

    Exit 0 once accepted; with --wait, 0 processed, 1 not processed or --timeout passed.
    """
    accepted = session.client.place(item, quantity)
    order_id = accepted.order_id
    if not wait:
        if session.json:
            _print_json(accepted)
        else:
            session.out.print(f"Order [bold]{order_id}[/] accepted: {quantity} of {escape(item)}")
            session.out.print(f"Follow it: {session.command('status', order_id)}")
        return
    if not session.json:
        session.out.print(f"Order [bold]{order_id}[/] placed: {quantity} of {escape(item)}")
    order = _follow(session, order_id, timeout_s=timeout)
    raise click.exceptions.Exit(_outcome(session, order))


@cli.command()
@click.argument("order_id")
@pass_session
def status(session: Session, order_id: str) -> None:
    """Show an order's status, step and result.

    Exit 1 if the order has ended without being processed.
    """
    order = session.client.status(order_id)
    if session.json:
        _print_json(order)
    else:
        step = order.step or "not started"
        session.out.print(f"Order [bold]{order.order_id}[/]: {order.status}, step {step}")
        if order.step == "awaiting_approval":
            _approval_hint(session, order.order_id)
    if order.status in ENDED:
        raise click.exceptions.Exit(_result(session, order, quiet=session.json))


@cli.command()
@click.argument("order_id")
@pass_session
def approve(session: Session, order_id: str) -> None:
    """Approve an order waiting for a manager.

    The order goes on to payment. Sends the manager's token: MANAGER_API_TOKEN, else the
    file ORDER_API_TOKENS names (default ~/.local/state/dapr-order-processing/tokens.env).
    """
    _decide(session, order_id, approved=True)


@cli.command()
@click.argument("order_id")
@pass_session
def reject(session: Session, order_id: str) -> None:
    """Reject an order waiting for a manager.

    The order is not processed; its reserved stock is released. Sends the manager's token,
    as approve does.
    """
    _decide(session, order_id, approved=False)


def _decide(session: Session, order_id: str, *, approved: bool) -> None:
    accepted = session.client.decide(order_id, approved=approved)
    if session.json:
        _print_json(accepted)
        return
    verb = "Approved" if approved else "Rejected"
    session.out.print(f"{verb} order [bold]{accepted.order_id}[/].")
    session.out.print(f"Follow it: {session.command('status', accepted.order_id)}")


@cli.command()
@pass_session
def inventory(session: Session) -> None:
    """List items: price, available, reserved.

    Reserved stock is held for orders in progress and not available to new ones.
    """
    stock = session.client.inventory()
    if session.json:
        _print_json(stock)
        return
    if not stock.items:
        session.out.print(f"No items yet: {session.command('restock', 'ITEM', 'QTY', 'PRICE')}")
        return
    table = Table("name", "unit_price", "quantity", "reserved")
    for column in table.columns[1:]:
        column.justify = "right"
    for item in stock.items:
        table.add_row(item.name, f"{item.unit_price:,}", f"{item.quantity:,}", f"{item.reserved:,}")
    session.out.print(table)


@cli.command()
@click.argument("item")
@click.argument("quantity", type=click.IntRange(min=0))
@click.argument("price", type=click.IntRange(min=0))
@pass_session
def restock(session: Session, item: str, quantity: int, price: int) -> None:
    """Set an item's stock and price.

    QUANTITY available and unit PRICE in whole USD are absolute values, not added to what
    is there; stock reserved for orders in progress stays reserved. Sends the operator's
    token: OPERATOR_API_TOKEN, else the file ORDER_API_TOKENS names (default
    ~/.local/state/dapr-order-processing/tokens.env).
    """
    stocked = session.client.restock(item, quantity, price)
    if session.json:
        _print_json(stocked)
        return
    session.out.print(
        f"{stocked.name}: {stocked.quantity:,} available at {stocked.unit_price:,} USD each"
        f" ({stocked.reserved:,} reserved for orders in progress)"
    )


@cli.command("demo")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=demo.DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Give up (exit 2) if the demo is not done after this many seconds.",
)
@pass_session
def demo_command(session: Session, timeout: float) -> None:
    """The seed quickstart's console demo: restock, order one car, print how it ended.

    Waits for the API to be ready, restocks the seed's three items (the operator's token, as
    restock sends it), places 1 of cars, follows it, and prints the seed's lines. `make run`
    starts it beside order-processor. Exit 0 the order was processed, 1 it was not, 2 the demo
    failed ("Demo failed: ..."). The lines are the seed's, never JSON.
    """
    if session.json:
        raise click.UsageError("demo prints the seed's console lines; it has no --json output")
    # dapr.yaml starts the demo as a shell's background job, and a shell starts those with
    # SIGINT ignored: take Python's handler back, so that Ctrl-C and `dapr stop -f .` (SIGINT
    # to the whole process group) stop the demo with the system.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        order = demo.run(session.client, demo.Deadline(timeout), click.echo)
    except MissingTokenError as err:
        _demo_failed(f"restocking {err}")
    except (demo.DemoTimeoutError, ApiError, ApiUnreachableError) as err:
        _demo_failed(str(err))
    raise click.exceptions.Exit(_result(session, order, quiet=True))


def _demo_failed(why: str) -> NoReturn:
    click.echo(f"Demo failed: {why}")
    raise click.exceptions.Exit(EXIT_ERROR)


# -- Following an order ------------------------------------------------------------------------


def _follow(session: Session, order_id: str, *, timeout_s: float) -> OrderStatus:
    """Follow the order until it ends, printing a line each time it reaches a new step.

    Each request is a long poll for the step after the one shown (``OrderClient.follow``),
    so every step shows and nothing polls. In a terminal a spinner shows the current step.
    """
    start = time.monotonic()
    order: OrderStatus | None = None
    shown_steps = 0
    with _spinner(session) as update:
        for order in session.client.follow(order_id, deadline=start + timeout_s):
            # Every step not shown yet: two quick ones can pass between two answers.
            for step in order.steps[shown_steps:]:
                _step_line(session, order.order_id, step, time.monotonic() - start)
            shown_steps = max(shown_steps, len(order.steps))
            if order.status in ENDED:
                return order
            update(f"{order.step or 'starting'} …")
    if session.json and order is not None:
        _print_json(order)
    where = order.step if order is not None and order.step else "not started"
    _fail(
        f"order {order_id} has not ended after {timeout_s:.0f} s (step: {where}); "
        f"follow it with `{session.command('status', order_id)}`",
        EXIT_NOT_PROCESSED,
    )


@contextmanager
def _spinner(session: Session) -> Iterator[Callable[[str], None]]:
    """A live status line in a terminal; nothing at all in a pipe or with --json."""
    if session.json or not session.out.is_terminal:
        yield lambda _text: None
        return
    with Status("starting …", console=session.out) as status:
        yield status.update


def _step_line(session: Session, order_id: str, step: Step, elapsed_s: float) -> None:
    if session.json:
        return
    session.out.print(f"  {elapsed_s:6.1f}s  [cyan]{step:<20}[/] {STEP_TEXT[step]}")
    if step == "awaiting_approval":
        _approval_hint(session, order_id, indent=" " * 11)


def _approval_hint(session: Session, order_id: str, indent: str = "") -> None:
    session.out.print(f"{indent}approve: [bold]{session.command('approve', order_id)}[/]")
    session.out.print(f"{indent}reject:  {session.command('reject', order_id)}")


def _outcome(session: Session, order: OrderStatus) -> int:
    if session.json:
        _print_json(order)
    return _result(session, order, quiet=session.json)


def _result(session: Session, order: OrderStatus, *, quiet: bool) -> int:
    """The exit code of an order that has ended, with one line saying why unless ``quiet``."""
    result = order.result
    processed = order.status == "COMPLETED" and result is not None and result.processed
    if quiet:
        return EXIT_OK if processed else EXIT_NOT_PROCESSED
    if processed and result is not None:
        total = "" if result.total is None else f": total {result.total:,} USD"
        session.out.print(f"[green]✔[/] Order [bold]{order.order_id}[/] processed{total}")
        return EXIT_OK
    if result is not None and result.reason is not None:
        why = f"{result.reason} ({REASON_TEXT[result.reason]})"
    else:
        why = f"the workflow ended {order.status}"
    session.out.print(f"[red]✘[/] Order [bold]{order.order_id}[/] not processed: {why}")
    return EXIT_NOT_PROCESSED


def main() -> None:
    """The console script."""
    cli(prog_name="orderctl")
