// The moderator's control screen: live columns, actions, queue ordering, keyboard, settings.
import { connectLive, request } from "./live.js";
import { fmt, h, pageData, time } from "./dom.js";

const data = pageData();
const t = data.t;
const $ = (id) => document.getElementById(id);
const state = { questions: new Map(), settings: {}, categories: [], selected: null, mode: null };
const cards = new Map();  // id -> element, so a change re-renders only the cards it touched

const COLUMNS = {
  incoming: { statuses: ["pending", "submitted"], sort: (a, b) => a.id - b.id },
  approved: { statuses: ["approved"], sort: (a, b) => b.votes - a.votes || a.id - b.id },
  queue: { statuses: ["queued"], sort: (a, b) => a.position - b.position || a.id - b.id },
  onair: { statuses: ["on_air"], sort: (a, b) => a.id - b.id },
  done: { statuses: ["answered", "deferred", "rejected", "merged"], sort: (a, b) => b.id - a.id },
};
const ACTIONS = {
  pending: ["approve", "queue", "send_to_air", "edit", "merge", "reject", "follow_up"],
  approved: ["queue", "send_to_air", "edit", "merge", "defer", "reject", "follow_up"],
  queued: ["send_to_air", "unqueue", "edit", "merge", "defer", "reject", "follow_up"],
  on_air: ["mark_answered", "defer", "edit", "follow_up"],
  deferred: ["approve", "queue", "send_to_air", "merge", "reject", "follow_up"],
  rejected: ["restore"],
  answered: [], merged: [], submitted: ["approve", "reject"],
};
const KEYS = { a: "approve", q: "queue", Enter: "send_to_air", x: "mark_answered", d: "defer", r: "reject", e: "edit", m: "merge", f: "follow_up" };

function toast(message) {
  const el = $("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function onAir() {
  for (const q of state.questions.values()) if (q.status === "on_air") return q;
  return null;
}

async function act(q, action, extra = {}) {
  if (action === "edit" || action === "merge" || action === "reject") {
    state.mode = { id: q.id, kind: action };
    refresh([q.id]);
    const field = cards.get(q.id)?.querySelector("textarea, input, select.merge-target");
    if (field) field.focus();
    return;
  }
  if (action === "follow_up") {
    await send("flag_follow_up", { id: q.id, version: q.version, on: !q.appeal?.follow_up });
    return;
  }
  const payload = { id: q.id, version: q.version, ...extra };
  const current = onAir();
  if (action === "send_to_air" && current && current.id !== q.id) payload.finish_current = "mark_answered";
  await send(action, payload);
}

async function send(event, payload) {
  const ack = await request(live.socket, event, payload);
  if (!ack.ok) {
    toast(ack.error.message || ack.error.code);
    if (ack.error.code === "stale_version" || ack.error.code === "invalid_transition") live.resync();
  }
  return ack;
}

function leaveMode(id) {
  state.mode = null;
  refresh([id]);
  cards.get(id)?.focus();
}

function metaLine(q) {
  const cat = state.categories.find((c) => c.id === q.category_id);
  return [
    `#${q.id}`, q.author_name, q.district, q.language.toUpperCase(), t[q.channel] || q.channel,
    `▲ ${q.votes}`, q.asker_count > 1 ? `${q.asker_count} ${t.askers}` : "", q.contact, cat ? cat.name : "",
    time(q.created_at, data.locale),
  ].filter(Boolean).join(" · ");
}

/** The appeal's statutory clock: red when overdue, amber when due soon, and the follow-up flag. */
function clock(q) {
  const a = q.appeal;
  if (!a) return null;
  const label = a.urgency ? `${t[a.urgency]} · ${a.due_date}` : `${t.due} ${a.due_date}`;
  return h("span", { class: "clock" },
    h("span", { class: `due ${a.urgency || ""}`, title: t.due }, label),
    a.follow_up ? h("span", { class: "badge follow-up" }, t.follow_up_flagged) : null);
}

function actionLabel(q, action) {
  // both labels are in the button; CSS shows the right one while something is on air (no re-render)
  if (action === "send_to_air") return [h("span", { class: "if-free" }, t.send_to_air), h("span", { class: "if-busy" }, t.send_next)];
  if (action === "follow_up") return q.appeal?.follow_up ? t.follow_up_off : t.follow_up;
  return t[action];
}

function modeForm(q) {
  const mode = state.mode;
  if (!mode || mode.id !== q.id) return null;
  if (mode.kind === "edit") {
    const area = h("textarea", { rows: 4, "aria-label": t.edit });
    area.value = q.text;
    return h("form", { class: "mode", onsubmit: async (e) => {
      e.preventDefault();
      const ack = await send("edit_question", { id: q.id, version: q.version, text: area.value });
      if (ack.ok) leaveMode(q.id);
    } }, area, h("button", { class: "button primary", type: "submit" }, t.save),
    h("button", { class: "button", type: "button", onclick: () => leaveMode(q.id) }, t.cancel));
  }
  if (mode.kind === "reject") {
    const input = h("input", { "aria-label": t.reason, placeholder: t.reason, maxlength: 300 });
    const reject = async (reason) => {
      const ack = await send("reject", { id: q.id, version: q.version, reason });
      if (ack.ok) leaveMode(q.id);
    };
    return h("form", { class: "mode", onsubmit: (e) => { e.preventDefault(); reject(input.value); } }, input,
      ...["reason_spam", "reason_abuse", "reason_offtopic"].map((k) => h("button", { class: "button small", type: "button", onclick: () => reject(t[k]) }, t[k])),
      h("button", { class: "button danger", type: "submit" }, t.reject),
      h("button", { class: "button", type: "button", onclick: () => leaveMode(q.id) }, t.cancel));
  }
  if (mode.kind === "merge") {
    const targets = [...state.questions.values()].filter((o) => o.id !== q.id && !["rejected", "merged"].includes(o.status))
      .sort((a, b) => b.id - a.id);
    const select = h("select", { class: "merge-target", "aria-label": t.merge_into },
      h("option", { value: "" }, t.choose),
      ...targets.map((o) => h("option", { value: o.id }, `#${o.id} ${o.text.slice(0, 70)}`)));
    return h("form", { class: "mode", onsubmit: async (e) => {
      e.preventDefault();
      if (!select.value) return;
      const ack = await send("merge_question", { id: q.id, version: q.version, target_id: Number(select.value) });
      if (ack.ok) leaveMode(q.id);
    } }, select, h("button", { class: "button primary", type: "submit" }, t.merge),
    h("button", { class: "button", type: "button", onclick: () => leaveMode(q.id) }, t.cancel));
  }
  return null;
}

function categorySelect(q) {
  if (["merged", "rejected"].includes(q.status) || !state.categories.length) return null;
  const select = h("select", { class: "category", "aria-label": t.category,
    onchange: () => send("categorize_question", { id: q.id, version: q.version, category_id: select.value || null }) },
  h("option", { value: "" }, t.no_category),
  ...state.categories.map((c) => h("option", { value: c.id, selected: c.id === q.category_id }, c.name)));
  return select;
}

function renderCard(q) {
  const buttons = (ACTIONS[q.status] || []).map((action) => h("button", {
    type: "button", class: `button small act-${action}`, dataset: { action },
    onclick: (e) => { e.stopPropagation(); act(q, action); },
  }, actionLabel(q, action)));
  const el = h("li", {
    class: `qcard ${q.status}${state.selected === q.id ? " selected" : ""}`, tabindex: 0,
    dataset: { id: q.id, status: q.status }, "aria-selected": state.selected === q.id ? "true" : "false",
    onclick: () => select(q.id),
  },
  h("p", { class: "text" }, q.text),
  q.original_text ? h("details", { class: "original" }, h("summary", {}, t.original), h("p", {}, q.original_text)) : null,
  q.reject_reason ? h("p", { class: "reason" }, q.reject_reason) : null,
  h("p", { class: "meta" }, metaLine(q), " ", h("span", { class: "code" }, q.tracking_code || ""), " ", clock(q)),
  modeForm(q) || h("div", { class: "actions" }, ...buttons, categorySelect(q)));
  return el;
}

function columnOf(q) {
  for (const [name, col] of Object.entries(COLUMNS)) if (col.statuses.includes(q.status)) return name;
  return "done";
}

// --- filters: search, status, category, language, district (client-side, on the loaded desk) ---
const filter = { text: "", status: "", category: "", language: "", district: "" };

function filtering() {
  return Object.values(filter).some(Boolean);
}

function matches(q) {
  if (filter.status && q.status !== filter.status && !(filter.status === "pending" && q.status === "submitted")) return false;
  if (filter.category && String(q.category_id) !== filter.category) return false;
  if (filter.language && q.language !== filter.language) return false;
  if (filter.district && !(q.district || "").toLowerCase().includes(filter.district)) return false;
  if (filter.text) {
    const hay = `${q.text} ${q.author_name} ${q.tracking_code} ${q.district}`.toLowerCase();
    if (!hay.includes(filter.text)) return false;
  }
  return true;
}

$("filters").addEventListener("input", (e) => {
  const { name, value } = e.target;
  filter[name] = ["text", "district"].includes(name) ? value.trim().toLowerCase() : value;
  refresh();
});
$("filters").addEventListener("submit", (e) => e.preventDefault());

function fillCategoryFilter() {
  const select = $("f-category");
  const current = select.value;
  select.replaceChildren(select.options[0], ...state.categories.map((c) => h("option", { value: c.id }, c.name)));
  select.value = current;
}

// --- new questions: a sound (can be muted, remembered) and a count in the tab title ---
const prefs = JSON.parse(localStorage.getItem("companion:moderate") || "{}");
const baseTitle = document.title;
let unseen = 0;
let audio = null;

function applyMute() {
  $("mute").setAttribute("aria-pressed", String(!!prefs.muted));
  $("mute").textContent = prefs.muted ? t.sound_off : t.sound_on;
}
$("mute").addEventListener("click", () => {
  prefs.muted = !prefs.muted;
  localStorage.setItem("companion:moderate", JSON.stringify(prefs));
  applyMute();
});
applyMute();

function chime() {
  if (prefs.muted) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch { /* no audio device: the badge still counts */ }
}

function announceNew(count) {
  if (!count) return;
  chime();
  if (document.hidden || !document.hasFocus()) {
    unseen += count;
    document.title = `(${unseen}) ${baseTitle}`;
  }
  document.documentElement.dataset.unseen = String(unseen);
}
function clearBadge() { unseen = 0; document.title = baseTitle; document.documentElement.dataset.unseen = "0"; }
window.addEventListener("focus", clearBadge);
document.addEventListener("visibilitychange", () => { if (!document.hidden) clearBadge(); });

// --- backstage: a note to the speaker with its read receipt, and the countdown ---
function renderBackstage(backstage) {
  if (!backstage) return;
  const m = backstage.message;
  $("b-status").textContent = m ? `${fmt(t.sent_at, { time: time(m.sent_at, data.locale) })}: "${m.text}" · ${
    m.read_at ? fmt(t.read_at, { time: time(m.read_at, data.locale) }) : t.not_read}` : "";
  $("b-status").dataset.read = m && m.read_at ? "yes" : "no";
  $("countdown-status").textContent = backstage.countdown_until
    ? fmt(t.countdown_until, { time: time(backstage.countdown_until, data.locale) }) : "";
}
$("backstage-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("b-text");
  const ack = await send("send_backstage", { text: input.value });
  if (ack.ok) input.value = "";
});
for (const button of document.querySelectorAll("[data-quick]")) {
  button.addEventListener("click", () => send("send_backstage", { text: button.dataset.quick }));
}
for (const button of document.querySelectorAll("[data-seconds]")) {
  button.addEventListener("click", () => send("set_countdown", { seconds: Number(button.dataset.seconds) }));
}

// Cards live in per-column arrays of ids kept in sort order, so an event re-renders and moves only
// the cards it touched (a binary search finds each one's place). Long columns show their first
// WINDOW cards and a "show more" button (search and filters reach the rest): a desk with 10,000
// questions renders a few hundred cards, not ten thousand.
const WINDOW = 150;
const order = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, []]));
const placed = new Map();  // id -> its column (whether or not its card is in the window)
const limit = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, k === "queue" || k === "onair" ? Infinity : WINDOW]));

function moreButton(name) {
  const hidden = order[name].length - limit[name];
  const list = $(`list-${name}`);
  let more = list.querySelector(":scope > li.more");
  if (hidden <= 0) { more?.remove(); return; }
  if (!more) {
    more = h("li", { class: "more" }, h("button", { type: "button", class: "button small", onclick: () => {
      limit[name] += WINDOW * 4;
      refresh();
    } }));
  }
  more.firstChild.textContent = fmt(t.show_more, { n: hidden });
  list.append(more);  // always last
}

function rebuild() {
  cards.clear();
  placed.clear();
  const lists = Object.fromEntries(Object.keys(COLUMNS).map((k) => [k, []]));
  for (const q of state.questions.values()) if (matches(q)) lists[columnOf(q)].push(q);
  for (const [name, list] of Object.entries(lists)) {
    list.sort(COLUMNS[name].sort);
    order[name] = list.map((q) => q.id);
    for (const q of list) placed.set(q.id, name);
    $(`list-${name}`).replaceChildren(...list.slice(0, limit[name]).map((q) => {
      const el = renderCard(q);
      cards.set(q.id, el);
      return el;
    }));
    moreButton(name);
  }
}

function slot(name, q) {
  const list = order[name];
  const cmp = COLUMNS[name].sort;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cmp(state.questions.get(list[mid]), q) <= 0) lo = mid + 1; else hi = mid;
  }
  return lo;
}

function showAt(name, index) {
  // render the card at `index` of the column into the window (it just came within it)
  const id = order[name][index];
  if (id === undefined || cards.has(id)) return;
  const el = renderCard(state.questions.get(id));
  const next = order[name][index + 1];
  $(`list-${name}`).insertBefore(el, (next !== undefined && cards.get(next)) || $(`list-${name}`).querySelector(":scope > li.more"));
  cards.set(id, el);
}

function update(ids) {
  for (const id of ids) {  // first take every touched card out, so the rest stay in order
    const name = placed.get(id);
    if (name === undefined) continue;
    const list = order[name];
    const index = list.indexOf(id);
    list.splice(index, 1);
    placed.delete(id);
    if (cards.has(id)) {
      cards.get(id).remove();
      cards.delete(id);
      if (list.length >= limit[name]) showAt(name, limit[name] - 1);  // the next one moves into the window
    }
  }
  const touchedColumns = new Set();
  for (const id of ids) {  // then put each back where it now belongs
    const q = state.questions.get(id);
    if (!q || !matches(q) || placed.has(id)) continue;
    const name = columnOf(q);
    const i = slot(name, q);
    order[name].splice(i, 0, id);
    placed.set(id, name);
    touchedColumns.add(name);
    if (i < limit[name]) {
      showAt(name, i);
      const overflow = order[name][limit[name]];  // pushed out of the window
      if (overflow !== undefined && cards.has(overflow)) { cards.get(overflow).remove(); cards.delete(overflow); }
    }
  }
  for (const name of Object.keys(order)) moreButton(name);
}

function markBusy() {
  document.querySelector(".board").classList.toggle("busy", Boolean(onAir()));
}

function refresh(ids = null) {
  const started = performance.now();
  if (ids === null) markBusy();
  if (ids === null) rebuild(); else update(ids);
  let waiting = 0; let queued = 0; let answered = 0; let shown = 0;
  for (const q of state.questions.values()) {
    if (q.status === "pending" || q.status === "submitted") waiting += 1;
    else if (q.status === "queued") queued += 1;
    else if (q.status === "answered") answered += 1;
  }
  for (const name of Object.keys(order)) {
    shown += order[name].length;
    const count = document.querySelector(`[data-count="${name}"]`);
    if (count) count.textContent = order[name].length;
  }
  $("count-waiting").textContent = waiting;
  $("count-queued").textContent = queued;
  $("count-answered").textContent = answered;
  $("f-shown").textContent = filtering() ? fmt(t.shown, { n: shown, total: state.questions.size }) : "";
  // for the benchmark and the browser test: how long the last full render and the last update took
  document.documentElement.dataset[ids === null ? "renderMs" : "updateMs"] = (performance.now() - started).toFixed(2);
}

function select(id) {
  const previous = state.selected;
  state.selected = id;
  refresh([previous, id].filter((x) => x !== null && state.questions.has(x)));
  cards.get(id)?.focus();
}

function moveSelection(step) {
  const ids = [...document.querySelectorAll(".qcard")].map((el) => Number(el.dataset.id));
  if (!ids.length) return;
  const index = ids.indexOf(state.selected);
  const next = index < 0 ? 0 : Math.min(Math.max(index + step, 0), ids.length - 1);
  select(ids[next]);
  cards.get(ids[next])?.scrollIntoView({ block: "nearest" });
}

function queueOrder() {
  return [...$("list-queue").children].map((el) => Number(el.dataset.id));
}

function moveInQueue(id, step) {
  const order = queueOrder();
  const i = order.indexOf(id);
  const j = i + step;
  if (i < 0 || j < 0 || j >= order.length) return;
  [order[i], order[j]] = [order[j], order[i]];
  send("reorder_queue", { order });
}

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select")) { if (e.key === "Escape" && state.mode) leaveMode(state.mode.id); return; }
  if (e.key === "?") { toggleHelp(); return; }
  if (e.key === "/") { e.preventDefault(); $("f-text").focus(); return; }
  if (e.key === "b") { e.preventDefault(); $("backstage-panel").open = true; $("b-text").focus(); return; }
  if (e.key === "j") { moveSelection(1); return; }
  if (e.key === "k") { moveSelection(-1); return; }
  const q = state.questions.get(state.selected);
  if (!q) return;
  if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
    e.preventDefault();
    moveInQueue(q.id, e.key === "ArrowUp" ? -1 : 1);
    return;
  }
  const action = KEYS[e.key];
  if (action && (ACTIONS[q.status] || []).includes(action)) { e.preventDefault(); act(q, action); }
});

function toggleHelp() {
  const help = $("help");
  help.hidden = !help.hidden;
  $("help-toggle").setAttribute("aria-expanded", String(!help.hidden));
}
$("help-toggle").addEventListener("click", toggleHelp);

// eslint-disable-next-line no-undef
Sortable.create($("list-queue"), {
  animation: 120,
  onEnd: () => send("reorder_queue", { order: queueOrder() }),
});

function applySettings(settings) {
  state.settings = settings;
  for (const input of $("settings").elements) input.checked = !!settings[input.name];
}
$("settings").addEventListener("change", (e) => {
  send("update_settings", { settings: { [e.target.name]: e.target.checked } });
});

$("phone-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const payload = Object.fromEntries(["text", "author_name", "district", "contact"].map((k) => [k, form.elements[k].value]));
  payload.consent = form.elements.consent.checked;
  payload.client_id = crypto.randomUUID ? crypto.randomUUID().replaceAll("-", "") : String(Date.now()) + Math.random().toString(16).slice(2);
  const ack = await send("add_phone_question", payload);
  if (ack.ok) {
    form.reset();
    $("phone-status").textContent = fmt(t.added, { code: ack.question.tracking_code });
  }
});

const live = connectLive({
  namespace: "/staff",
  slug: data.slug,
  onSnapshot(snapshot) {
    state.questions = new Map(snapshot.questions.map((q) => [q.id, q]));
    state.categories = snapshot.categories;
    applySettings(snapshot.settings);
    fillCategoryFilter();
    renderBackstage(snapshot.backstage);
    refresh();
  },
  onStatus(status) {
    const el = $("conn");
    el.dataset.state = status;
    el.textContent = status === "online" ? t.online : t.offline;
  },
});

live.socket.on("desk_changed", live.versioned((event) => {
  if (event.settings) applySettings(event.settings);
  if (event.backstage) renderBackstage(event.backstage);
  const ids = event.questions.map((q) => q.id);
  announceNew(event.questions.filter((q) => !state.questions.has(q.id)).length);
  for (const q of event.questions) state.questions.set(q.id, q);
  markBusy();
  refresh(ids);
}));
live.socket.on("votes_changed", (event) => {
  const ids = [];
  for (const [id, votes] of Object.entries(event.votes)) {
    const q = state.questions.get(Number(id));
    if (q) { q.votes = votes; ids.push(q.id); }
  }
  if (ids.length) refresh(ids);
});
