// The dashboard. Its data comes from the operator's /api/events (a snapshot, then changes as they
// happen), its logs from /api/logs, and a click goes to /api/buttons/NAME/click with this page's
// session token. Every string from the cluster reaches the page as text (textContent, attribute
// values, a data: URI for an SVG icon), never as markup.
"use strict";

const page = {
  resources: new Map(), // name -> resource, as the server sends it
  globals: [],
  token: null,
  selected: null, // a resource name, or null for all logs
  connected: false,
  order: [], // resource names as the sidebar lists them
  catalogue: { repos: [], extensions: [] },
};
const rows = new Map(); // name -> {element, text}: the sidebar row and the JSON it was drawn from
const controls = new Map(); // button name -> {armed, open, values}: what the user did to a button
let logs = null; // {controller, ended, name}

const $ = (selector) => document.querySelector(selector);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

const icon = (name) => el("span", { class: "material-icons", "aria-hidden": "true", text: name });

function svgImage(svg) {
  // An <img> never runs an SVG's scripts; the data: URI keeps it off the network.
  const bytes = new TextEncoder().encode(svg);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return el("img", { class: "icon", alt: "", src: `data:image/svg+xml;base64,${btoa(binary)}` });
}

function when(stamp) {
  if (!stamp) return "";
  const date = new Date(stamp);
  return Number.isNaN(date.getTime()) ? stamp : date.toLocaleTimeString();
}

// ---- the connection ---------------------------------------------------------------------------

function connect() {
  const events = new EventSource("/api/events");
  events.addEventListener("snapshot", (event) => {
    const data = JSON.parse(event.data);
    page.token = data.token;
    page.resources = new Map(Object.entries(data.resources));
    page.globals = data.globals;
    page.catalogue = data.catalogue;
    setConnected(true);
    renderAll();
    if (!inCatalogue() && (!logs || logs.ended)) openLogs();
  });
  events.addEventListener("change", (event) => apply(JSON.parse(event.data)));
  events.addEventListener("error", () => {
    setConnected(false);
    // The browser retries by itself unless the server answered with an error.
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  });
}

function setConnected(connected, message = "Lost the connection to the operator; reconnecting…") {
  page.connected = connected;
  const banner = $("#banner");
  banner.hidden = connected;
  banner.textContent = connected ? "" : message;
}

function apply(change) {
  let reorder = false;
  for (const [name, resource] of Object.entries(change.resources || {})) {
    reorder ||= !resource || !page.resources.has(name);
    if (resource) page.resources.set(name, resource);
    else page.resources.delete(name);
    if (!reorder) renderRow(name);
  }
  if (reorder) renderSidebar();
  if (change.globals) {
    page.globals = change.globals;
    syncButtons($("#globals"), page.globals);
  }
  if (change.catalogue) {
    page.catalogue = change.catalogue;
    if (inCatalogue()) renderCatalogue();
  }
  renderCounts();
  if (page.selected !== null && change.resources && page.selected in change.resources) {
    renderOverview();
    if (logs && logs.ended) openLogs();
  }
}

// ---- rendering --------------------------------------------------------------------------------

function renderAll() {
  renderCounts();
  syncButtons($("#globals"), page.globals);
  renderSidebar();
  renderOverview();
  if (inCatalogue()) renderCatalogue();
}

function renderCounts() {
  const counts = { error: 0, running: 0, pending: 0, ok: 0 };
  for (const resource of page.resources.values()) counts[resource.status] += 1;
  const parts = Object.entries(counts)
    .filter(([, count]) => count)
    .map(([status, count]) =>
      el("span", { class: `count status-${status}`, "data-status": status }, el("span", { class: "dot" }), `${count} ${status}`),
    );
  $("#counts").replaceChildren(...parts);
}

function sortedNames() {
  return [...page.resources.values()]
    .sort((a, b) => a.rank - b.rank || a.title.localeCompare(b.title) || a.name.localeCompare(b.name))
    .map((resource) => resource.name);
}

function renderSidebar() {
  page.order = sortedNames();
  const list = $("#resources");
  for (const [name, row] of rows) {
    if (page.resources.has(name)) continue;
    row.element.remove();
    rows.delete(name);
  }
  for (const name of page.order) {
    renderRow(name);
    list.append(rows.get(name).element); // moves an existing row into its place
  }
  $("#empty").hidden = page.resources.size > 0;
  $("#all-logs").classList.toggle("selected", page.selected === null && !inCatalogue());
  applyFilter();
}

function renderRow(name) {
  const resource = page.resources.get(name);
  const text = JSON.stringify([resource, page.selected === name]);
  const existing = rows.get(name);
  if (existing && existing.text === text) return;
  const row = el(
    "li",
    { "data-resource": name },
    el(
      "a",
      {
        class: `row status-${resource.status}${page.selected === name ? " selected" : ""}`,
        href: `#/r/${encodeURIComponent(name)}`,
        title: resource.summary,
      },
      el("span", { class: "dot", title: resource.status }),
      el("span", { class: "name", text: resource.title }),
      el("span", { class: "type", text: resource.type }),
      el("span", { class: "summary", text: resource.summary }),
    ),
  );
  if (existing) existing.element.replaceWith(row);
  rows.set(name, { element: row, text });
  if ($("#filter").value) applyFilter();
}

function applyFilter() {
  const filter = $("#filter").value.trim().toLowerCase();
  for (const [name, { element }] of rows) {
    const resource = page.resources.get(name);
    element.hidden = filter !== "" && !`${resource.title} ${name}`.toLowerCase().includes(filter);
  }
}

function renderOverview() {
  const overview = $("#overview");
  const resource = page.selected === null ? null : page.resources.get(page.selected);
  $("#log-title").textContent = page.selected === null ? "All logs" : `Logs of ${resource ? resource.title : page.selected}`;
  if (!resource) {
    overview.hidden = page.selected === null;
    if (page.selected !== null) {
      $("#heading").replaceChildren(el("h1", { text: page.selected }), el("div", { class: "meta", text: "not found (deleted?)" }));
      $("#details").replaceChildren();
      syncButtons($("#resource-buttons"), []);
    }
    return;
  }
  overview.hidden = false;
  const times = [
    resource.startedAt && `started ${when(resource.startedAt)}`,
    resource.finishedAt && `finished ${when(resource.finishedAt)}`,
  ].filter(Boolean);
  $("#heading").replaceChildren(
    el(
      "h1",
      {},
      el("span", { class: "title", text: resource.title }),
      el("span", { class: `pill status-${resource.status}`, "data-status": resource.status, text: resource.status }),
    ),
    el("div", { class: "meta" }, `${resource.type} · ${resource.summary}${times.length ? ` · ${times.join(", ")}` : ""}`),
  );
  syncButtons($("#resource-buttons"), resource.buttons);
  const details = [];
  if (resource.error) {
    const where = resource.error.file ? `${resource.error.file}:${resource.error.line}` : null;
    details.push(
      el(
        "div",
        { class: "error-box", role: "alert" },
        where ? el("div", { class: "where", text: where }) : null,
        el("pre", { class: "message", text: resource.error.message }),
      ),
    );
  }
  const facts = [];
  const fact = (term, value) => value && facts.push(el("dt", { text: term }), el("dd", { text: value }));
  fact("Reasons", resource.reasons.join(", "));
  if (resource.source) {
    const source = resource.source;
    fact("Extension", source.extension);
    fact("Repo", [source.repo, source.url && `(${source.url}${source.ref ? ` @ ${source.ref}` : ""})`].filter(Boolean).join(" "));
    fact("Path", source.path);
    fact("Commit", source.commit);
  }
  if (resource.links.length) {
    const anchors = resource.links.map((link) =>
      el("a", { href: link.url, target: "_blank", rel: "noopener noreferrer", class: "link", text: link.name }),
    );
    facts.push(el("dt", { text: "Links" }), el("dd", { class: "links" }, ...anchors));
  }
  if (resource.portForwards && resource.portForwards.length) {
    fact("Port forwards", `${resource.portForwards.join(", ")} (recorded; the operator forwards no port)`);
  }
  if (facts.length) details.push(el("dl", { class: "facts" }, ...facts));
  if (resource.objects.length) {
    const table = el("table", { class: "objects" }, el("tr", {}, ...["Object", "Status", "Details", "Command"].map((h) => el("th", { text: h }))));
    for (const object of resource.objects) {
      table.append(
        el(
          "tr",
          { "data-object": object.ref },
          el("td", { text: object.ref }),
          el("td", {}, el("span", { class: `dot status-${object.status}` }), ` ${object.status}`),
          el("td", { text: object.summary }),
          el("td", { class: "command", text: object.command || "" }),
        ),
      );
    }
    details.push(table);
  }
  $("#details").replaceChildren(...details);
}

// ---- buttons ----------------------------------------------------------------------------------

function control(name) {
  if (!controls.has(name)) controls.set(name, { armed: false, open: false, values: new Map() });
  return controls.get(name);
}

// Redraw only the buttons that changed, so a half-typed input keeps its text and its focus.
function syncButtons(container, buttons) {
  const existing = new Map([...container.children].map((child) => [child.dataset.button, child]));
  const wanted = buttons.map((button) => {
    const state = control(button.name);
    const signature = JSON.stringify([button, state.armed, state.open]);
    const current = existing.get(button.name);
    if (current && current.dataset.signature === signature) return current;
    const drawn = drawButton(button, () => syncButtons(container, buttons));
    drawn.dataset.signature = signature;
    return drawn;
  });
  container.replaceChildren(...wanted);
}

function drawButton(button, redraw) {
  const state = control(button.name);
  const visibleInputs = button.inputs.filter((input) => input.type !== "hidden");
  const main = el(
    "button",
    {
      type: "button",
      class: `ui-button${state.armed ? " armed" : ""}`,
      disabled: button.disabled,
      title: button.lastClickedAt ? `last clicked ${when(button.lastClickedAt)}` : button.text,
      onclick: () => click(button, redraw),
    },
    button.iconSVG ? svgImage(button.iconSVG) : button.iconName ? icon(button.iconName) : null,
    el("span", { class: "label", text: state.armed ? `Confirm ${button.text}` : button.text }),
  );
  const group = el("span", { class: "button-group", "data-button": button.name }, main);
  if (state.armed) {
    const disarm = () => {
      state.armed = false;
      redraw();
    };
    group.append(el("button", { type: "button", class: "disarm", title: "Cancel", "aria-label": "Cancel", onclick: disarm }, icon("close")));
  } else if (visibleInputs.length) {
    const toggle = () => {
      state.open = !state.open;
      redraw();
    };
    group.append(
      el("button", { type: "button", class: "toggle", title: "Options", "aria-label": `Options of ${button.text}`, onclick: toggle }, icon(state.open ? "expand_less" : "expand_more")),
    );
    if (state.open) group.append(drawInputs(visibleInputs, state));
  }
  group.classList.toggle("with-extra", group.children.length > 1);
  return group;
}

function drawInputs(inputs, state) {
  const panel = el("div", { class: "inputs" });
  for (const input of inputs) {
    const current = state.values.has(input.name) ? state.values.get(input.name) : input.default;
    if (input.type === "bool") {
      const box = el("input", { type: "checkbox", name: input.name, checked: Boolean(current) });
      box.addEventListener("change", () => state.values.set(input.name, box.checked));
      panel.append(el("label", { class: "bool" }, box, input.label));
    } else if (input.type === "choice") {
      const select = el("select", { name: input.name }, ...(input.choices || []).map((choice) => el("option", { value: choice, text: choice })));
      select.value = current ?? "";
      select.addEventListener("change", () => state.values.set(input.name, select.value));
      panel.append(el("label", {}, input.label, select));
    } else {
      const field = el("input", { type: "text", name: input.name, placeholder: input.placeholder || "" });
      field.value = current ?? "";
      field.addEventListener("input", () => state.values.set(input.name, field.value));
      panel.append(el("label", {}, input.label, field));
    }
  }
  return panel;
}

async function click(button, redraw) {
  const state = control(button.name);
  if (button.requiresConfirmation && !state.armed) {
    state.armed = true; // the first click arms, the second confirms
    redraw();
    return;
  }
  state.armed = false;
  state.open = false;
  redraw();
  const url = `/api/buttons/${encodeURIComponent(button.name)}/click`;
  await send("POST", url, { inputs: Object.fromEntries(state.values) }, button.text);
}

// A request that changes something: with this page's session token; a refusal is shown as a toast.
async function send(method, url, body, what) {
  try {
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-Tilt-Operator-Token": page.token || "" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.ok) return true;
    const answer = await response.json().catch(() => ({}));
    toast(`${what}: ${answer.error || `HTTP ${response.status}`}`);
  } catch (error) {
    toast(`${what}: the operator cannot be reached`);
  }
  return false;
}

let toastTimer = null;
function toast(message) {
  const box = $("#toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (box.hidden = true), 6000);
}

// ---- the catalogue ----------------------------------------------------------------------------

const inCatalogue = () => location.hash === "#/catalogue";

function renderCatalogue() {
  const notes = [];
  for (const repo of page.catalogue.repos) {
    if (repo.error) notes.push(el("div", { class: "repo-error", text: `${repo.name}: ${repo.error}` }));
    if (repo.note) notes.push(el("div", { class: "repo-note", text: `${repo.name}: ${repo.note}` }));
  }
  $("#repos").replaceChildren(...notes);
  const filter = $("#catalogue-filter").value.trim().toLowerCase();
  const offers = page.catalogue.extensions.filter((offer) =>
    `${offer.repo}/${offer.path} ${offer.name} ${offer.description}`.toLowerCase().includes(filter),
  );
  const header = el("tr", {}, ...["Extension", "Description", "Installed as", ""].map((h) => el("th", { text: h })));
  const rows = offers.map((offer) =>
    el(
      "tr",
      { "data-offer": `${offer.repo}/${offer.path}` },
      el("td", { text: `${offer.repo}/${offer.path}` }),
      el("td", { class: "description", text: offer.description }),
      el("td", { class: "installed", text: offer.installed.join(", ") }),
      el("td", { class: "actions" }, ...offerActions(offer)),
    ),
  );
  $("#offers").replaceChildren(header, ...rows);
  $("#no-offers").hidden = page.catalogue.extensions.length > 0;
}

function offerActions(offer) {
  if (!offer.installed.length) {
    const install = el("button", { type: "button", class: "ui-button install" }, icon("download"), "Install");
    install.addEventListener("click", async () => {
      install.disabled = true; // until the catalogue says it is installed
      if (!(await send("POST", "/api/extensions", { repo: offer.repo, path: offer.path }, `Install ${offer.name}`))) {
        install.disabled = false;
      }
    });
    return [install];
  }
  return offer.installed.map((name) => {
    const state = control(`uninstall:${name}`);
    const label = state.armed ? `Confirm uninstall ${name}` : `Uninstall ${name}`;
    const uninstall = el("button", { type: "button", class: `ui-button uninstall${state.armed ? " armed" : ""}` }, icon("delete"), label);
    uninstall.addEventListener("click", async () => {
      state.armed = !state.armed; // the first click arms, the second confirms
      if (state.armed) return renderCatalogue();
      uninstall.disabled = true;
      await send("DELETE", `/api/extensions/${encodeURIComponent(name)}`, undefined, `Uninstall ${name}`);
    });
    return uninstall;
  });
}

// ---- logs -------------------------------------------------------------------------------------

const MAX_LINES = 5000;

function openLogs() {
  if (logs) logs.controller.abort();
  const current = { controller: new AbortController(), ended: false, name: page.selected };
  logs = current;
  const pane = $("#log");
  pane.replaceChildren();
  const query = new URLSearchParams({ tail: String(MAX_LINES), follow: "1" });
  if (current.name !== null) query.append("name", current.name);
  stream(`/api/logs?${query}`, current, pane)
    .catch(() => {})
    .finally(() => {
      current.ended = true;
    });
}

async function stream(url, current, pane) {
  const response = await fetch(url, { signal: current.controller.signal });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    const message = response.status === 404 ? "No logs yet." : body.error || `HTTP ${response.status}`;
    pane.append(el("div", { class: "note", text: message }));
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const lines = buffer.split("\n");
    buffer = lines.pop();
    if (logs === current) appendLines(pane, lines.map((line) => JSON.parse(line)), current.name === null);
  }
}

function appendLines(pane, entries, prefixed) {
  const atBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 40;
  const fragment = document.createDocumentFragment();
  for (const entry of entries) {
    fragment.append(
      el(
        "div",
        { class: `line ${entry.stream}`, "data-object": entry.object },
        prefixed ? el("span", { class: "prefix", text: entry.resource }) : null,
        el("span", { class: "text", text: entry.text }),
      ),
    );
  }
  pane.append(fragment);
  while (pane.childElementCount > MAX_LINES) pane.firstElementChild.remove();
  if (atBottom && $("#follow").checked) pane.scrollTop = pane.scrollHeight;
}

// ---- navigation -------------------------------------------------------------------------------

// #/r/NAME shows a resource, anything else all logs: a link to a resource can be shared.
function selectedInHash() {
  const match = location.hash.match(/^#\/r\/(.+)$/);
  return match ? decodeURIComponent(match[1]) : null;
}

// The catalogue takes the place of the overview and the logs.
function showCatalogue() {
  const catalogue = inCatalogue();
  document.body.classList.toggle("in-catalogue", catalogue);
  $("#catalogue").hidden = !catalogue;
  $("#catalogue-link").classList.toggle("selected", catalogue);
  if (catalogue) $("#all-logs").classList.remove("selected");
  return catalogue;
}

function route() {
  if (showCatalogue()) {
    renderCatalogue();
    if (logs) logs.controller.abort();
    logs = null;
    return;
  }
  const selected = selectedInHash();
  if (selected === page.selected && logs) return;
  const previous = page.selected;
  page.selected = selected;
  for (const name of [previous, selected]) if (name !== null && page.resources.has(name)) renderRow(name);
  $("#all-logs").classList.toggle("selected", selected === null);
  renderOverview();
  if (page.connected) openLogs();
}

window.addEventListener("hashchange", route);
document.addEventListener("DOMContentLoaded", () => {
  $("#filter").addEventListener("input", applyFilter);
  $("#catalogue-filter").addEventListener("input", renderCatalogue);
  page.selected = selectedInHash();
  showCatalogue();
  setConnected(false, "Connecting to the operator…");
  connect();
});
