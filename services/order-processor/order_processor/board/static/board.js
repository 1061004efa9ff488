// The manager's board. Every value from an order or an item reaches the page as text
// (textContent, never HTML), and this file is the page's only script (the CSP allows no other).
"use strict";

const RETRY_MS = 2000;
const ENDED = new Set(["COMPLETED", "FAILED", "TERMINATED"]);
const LABELS = {
  running: "in progress",
  awaiting_approval: "awaiting approval",
  completed: "completed",
  approval_rejected: "rejected",
  approval_timeout: "approval timed out",
  insufficient_inventory: "insufficient inventory",
  payment_declined: "payment declined",
  inventory_update_failed: "inventory update failed",
  failed: "failed",
  terminated: "terminated",
};

let csrfToken = null;
let source = null;
let waitingSince = new Map();

const $ = (selector) => document.querySelector(selector);

function cell(className, text) {
  const td = document.createElement("td");
  td.className = className;
  td.textContent = text == null ? "–" : String(text);
  return td;
}

function outcome(order) {
  if (order.result) return order.result.processed ? "completed" : order.result.reason;
  if (ENDED.has(order.status)) return order.status.toLowerCase();
  return order.step === "awaiting_approval" ? "awaiting_approval" : "running";
}

function waited(since) {
  const seconds = Math.max(0, Math.floor((Date.now() - since) / 1000));
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

function time(at) {
  return at ? new Date(at).toLocaleTimeString() : "";
}

function stepList(order) {
  const list = document.createElement("ol");
  for (const reached of order.trail) {
    const item = document.createElement("li");
    item.textContent = `${reached.step.replaceAll("_", " ")} ${time(reached.at)}`;
    list.append(item);
  }
  return list;
}

function orderRow(order, state) {
  const row = document.createElement("tr");
  row.dataset.orderId = order.order_id;
  row.dataset.outcome = outcome(order);
  row.append(
    cell("order", order.order_id.slice(0, 12)),
    cell("item", order.item),
    cell("quantity", order.quantity),
    cell("total", order.total),
    cell("outcome", LABELS[row.dataset.outcome] || row.dataset.outcome),
  );
  const steps = cell("steps", "");
  steps.replaceChildren(stepList(order));
  const trace = document.createElement("td");
  const link = document.createElement("a");
  link.className = "trace";
  link.href = state.trace_search + encodeURIComponent(`order.id=${order.order_id}`);
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  link.textContent = "Zipkin";
  trace.append(link);
  row.append(steps, trace);
  return row;
}

function waitingRow(order) {
  const row = document.createElement("tr");
  row.dataset.orderId = order.order_id;
  const since = Date.parse(order.trail.at(-1).at) || Date.now();
  waitingSince.set(order.order_id, since);
  const buttons = document.createElement("td");
  for (const [className, label, approved] of [["approve", "Approve", true], ["reject", "Reject", false]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = label;
    button.addEventListener("click", () => decide(order.order_id, approved, buttons));
    buttons.append(button);
  }
  row.append(
    cell("order", order.order_id.slice(0, 12)),
    cell("item", order.item),
    cell("quantity", order.quantity),
    cell("total", order.total),
    cell("waited", waited(since)),
    buttons,
  );
  return row;
}

function stockRow(item) {
  const row = document.createElement("tr");
  row.dataset.item = item.name;
  row.append(
    cell("item", item.name),
    cell("quantity", item.quantity),
    cell("reserved", item.reserved),
    cell("unit-price", item.unit_price),
  );
  return row;
}

function fill(table, rows) {
  $(`table#${table} tbody`).replaceChildren(...rows);
  const empty = document.querySelector(`.empty[data-for="${table}"]`);
  if (empty) empty.hidden = rows.length > 0;
}

function render(state) {
  const waiting = state.orders
    .filter((order) => outcome(order) === "awaiting_approval")
    .sort((a, b) => Date.parse(a.trail.at(-1).at) - Date.parse(b.trail.at(-1).at));
  waitingSince = new Map();
  fill("waiting", waiting.map(waitingRow));
  fill("orders", state.orders.map((order) => orderRow(order, state)));
  fill("stock", state.stock.map(stockRow));
}

function tick() {
  for (const row of document.querySelectorAll("table#waiting tbody tr")) {
    const since = waitingSince.get(row.dataset.orderId);
    if (since) row.querySelector("td.waited").textContent = waited(since);
  }
}

async function message(response) {
  try {
    return (await response.json()).message || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

async function decide(orderId, approved, buttons) {
  for (const button of buttons.querySelectorAll("button")) button.disabled = true;
  $("#decision-error").textContent = "";
  const response = await fetch(`/board/orders/${encodeURIComponent(orderId)}/decision`, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
    body: JSON.stringify({ approved }),
  });
  if (response.status === 401) return signedOut();
  if (!response.ok) {
    $("#decision-error").textContent = await message(response);
    for (const button of buttons.querySelectorAll("button")) button.disabled = false;
  }
  // The order's next state arrives on the stream, like everyone else's decisions.
}

function connection(state, text) {
  $("#connection").dataset.state = state;
  $("#connection").textContent = text;
}

function listen() {
  source = new EventSource("/board/events");
  source.addEventListener("board", (event) => render(JSON.parse(event.data)));
  source.addEventListener("open", () => connection("live", "live"));
  source.addEventListener("error", async () => {
    connection("reconnecting", "reconnecting…");
    // A session that has ended will not come back.
    const response = await fetch("/board/session");
    if (response.status === 401) return signedOut();
    // EventSource tries again by itself after a dropped stream, but not after an error answer
    // (a 503 while inventory or daprd restarts): then a new one, a little later.
    if (source && source.readyState === EventSource.CLOSED) {
      source = null;
      setTimeout(() => { if (csrfToken && !source) listen(); }, RETRY_MS);
    }
  });
}

function signedIn(session) {
  csrfToken = session.csrf_token;
  $("#sign-in").hidden = true;
  $("#board").hidden = false;
  $("#sign-out").hidden = false;
  if (!source) listen();
}

function signedOut() {
  if (source) source.close();
  source = null;
  csrfToken = null;
  connection("closed", "not connected");
  $("#board").hidden = true;
  $("#sign-out").hidden = true;
  $("#sign-in").hidden = false;
}

async function signIn(event) {
  event.preventDefault();
  const token = $("#token");
  $("#sign-in-error").textContent = "";
  const response = await fetch("/board/session", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: token.value }),
  });
  token.value = "";
  if (!response.ok) {
    $("#sign-in-error").textContent = await message(response);
    return;
  }
  signedIn(await response.json());
}

async function signOut() {
  await fetch("/board/session", { method: "DELETE" });
  signedOut();
}

async function start() {
  $("#sign-in").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", signOut);
  setInterval(tick, 1000);
  const response = await fetch("/board/session");
  if (response.ok) signedIn(await response.json());
}

start();
