// The status page: renders each snapshot the server streams (Server-Sent
// Events on "stream", relative to this page). No framework, no external
// assets; text from the server is only ever set as textContent.
"use strict";

const HISTORY = 60; // lag samples kept per member: a minute at one a second
const lagHistory = new Map(); // member id -> [lag, ...], oldest first

function $(id) { return document.getElementById(id); }

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function setText(id, text) {
  const e = $(id);
  if (e.textContent !== String(text)) e.textContent = text;
}

function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour12: false });
}

function render(s) {
  const n = s.node;
  document.title = s.title + " status: node " + n.id;
  setText("title", s.title);
  setText("seen-by", "as seen by node " + n.id);
  setText("updated", "updated " + clock(s.time));

  const leader = $("leader");
  leader.textContent = n.leader ? "node " + n.leader : "none";
  leader.dataset.leader = String(n.leader);
  setText("term", n.term);
  setText("commit", n.commit_index);
  setText("applied", n.applied_index);
  setText("role", n.role);
  setText("snapshot-index", n.snapshot_index);

  renderMembers(s);
  renderLag(s);
  renderHealth(s.health);
  renderEvents(s.events);

  setText("cmd-members", s.commands.members);
  setText("cmd-status", s.commands.status);
  setText("cmd-health", s.commands.health);
  setText("cmd-events", s.commands.events);
  const metrics = $("metrics");
  if (s.metrics_url) {
    metrics.href = s.metrics_url;
    metrics.hidden = false;
  } else {
    metrics.hidden = true;
  }
}

function renderMembers(s) {
  const rows = s.members.map((m) => {
    const id = el("td", { "data-label": "id" }, String(m.id));
    if (m.leader) id.append(el("span", { class: "crown", title: "leader" }, "★ leader"));
    return el("tr", { class: m.self ? "self" : "", "data-id": m.id, "data-leader": m.leader },
      id,
      el("td", { "data-label": "address" }, m.address || "–"),
      el("td", { "data-label": "role" }, m.role),
      el("td", { "data-label": "health" }, el("span", { class: "badge h-" + m.health }, m.health)),
      el("td", { "data-label": "match" }, s.node.role === "leader" ? String(m.match) : "–"),
      el("td", { "data-label": "lag" }, m.lag === undefined ? "–" : String(m.lag)));
  });
  $("members").tBodies[0].replaceChildren(...rows);
}

function renderLag(s) {
  const onLeader = s.node.role === "leader";
  const peers = s.members.filter((m) => m.lag !== undefined);
  const present = new Set(s.members.map((m) => m.id));
  for (const id of lagHistory.keys()) {
    if (!present.has(id)) lagHistory.delete(id);
  }
  if (!onLeader) {
    lagHistory.clear();
    $("lag").replaceChildren();
    setText("lag-note", s.node.leader
      ? "Replication progress is known on the leader: open node " + s.node.leader + "'s page to see it."
      : "No leader known: no replication progress to show.");
    return;
  }
  setText("lag-note", "");
  for (const m of peers) {
    const h = lagHistory.get(m.id) || [];
    h.push(m.lag);
    if (h.length > HISTORY) h.shift();
    lagHistory.set(m.id, h);
  }
  let scale = 1;
  for (const h of lagHistory.values()) scale = Math.max(scale, ...h);
  const rows = peers.map((m) => {
    const h = lagHistory.get(m.id);
    // A fixed number of slots, newest on the right, so bars keep their
    // width while the history fills.
    const bars = [];
    for (let i = h.length; i < HISTORY; i++) bars.push(el("span", { class: "empty" }));
    for (const v of h) {
      const b = el("span", { class: v === 0 ? "zero" : "", title: v + " entries behind" });
      b.style.height = Math.max(1, Math.round((v / scale) * 100)) + "%";
      bars.push(b);
    }
    return el("div", { class: "lag-row", "data-id": m.id },
      el("span", { class: "name" }, "node " + m.id),
      el("div", { class: "spark" }, ...bars),
      el("span", { class: "num" }, String(m.lag)));
  });
  $("lag").replaceChildren(...rows);
}

function renderHealth(h) {
  const badge = $("health-status");
  if (!h) {
    badge.textContent = "not reported";
    badge.className = "badge h-unknown";
    $("health").replaceChildren();
    return;
  }
  badge.textContent = h.status;
  badge.className = "badge h-" + h.status;
  $("health").replaceChildren(...h.checks.map((c) =>
    el("li", { "data-check": c.name },
      el("span", { class: "badge h-" + c.status }, c.status),
      el("span", { class: "name" }, c.name),
      el("span", {}, c.message))));
}

function renderEvents(events) {
  if (events.length === 0) {
    $("events").replaceChildren(el("li", { class: "muted" }, "nothing yet"));
    return;
  }
  $("events").replaceChildren(...events.map((e) =>
    el("li", { "data-type": e.type },
      el("time", { dateTime: e.time }, clock(e.time)),
      el("span", {}, e.text))));
}

function connect() {
  const conn = $("conn");
  const stream = new EventSource("stream");
  stream.addEventListener("open", () => {
    conn.dataset.state = "live";
    conn.textContent = "live";
  });
  stream.addEventListener("snapshot", (ev) => {
    conn.dataset.state = "live";
    conn.textContent = "live";
    render(JSON.parse(ev.data));
  });
  stream.addEventListener("waiting", () => {
    conn.dataset.state = "connecting";
    conn.textContent = "node starting…";
  });
  stream.addEventListener("error", () => {
    conn.dataset.state = "reconnecting";
    conn.textContent = "reconnecting…";
    // EventSource reconnects by itself after a dropped stream, but gives
    // up on an answer that is not a stream (a 503 while the node stops,
    // too many streams): try again later.
    if (stream.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

connect();
