// The moderator's control room: the on-air strip, the columns, the selected question's panel,
// the keyboard, and the tools drawer. The server sends, with each question, the actions its
// status allows; this screen shows those and keeps no state machine of its own.
import { connectLive, request, showConnection } from "./live.js";
import { createBoard } from "./desk-board.js";
import { day, fmt, h, pageData, plural, time } from "./dom.js";

const data = pageData();
const t = data.t;
const $ = (id) => document.getElementById(id);
const state = {
  questions: new Map(), settings: {}, categories: [], selected: null,
  mode: null,            // {id, kind: "edit" | "reject" | "merge", version}
  groups: new Map(),     // id -> id of its group's first question (likely duplicates)
  suggestions: new Map(),  // id -> suggested category id
  similar: new Map(),    // id -> {version, items: [{id, score}]}
  known: new Set(),      // ids the server has told us insights for (at their version)
};
const prefs = JSON.parse(localStorage.getItem("companion:moderate") || "{}");
const savePrefs = () => localStorage.setItem("companion:moderate", JSON.stringify(prefs));
const OPEN = new Set(["pending", "approved", "queued", "on_air", "deferred", "answered"]);
// key -> action; the action runs only when the selected question allows it
const KEYS = { a: "approve", q: "queue", Enter: "send_to_air", x: "mark_answered", u: "take_off_air", d: "defer",
  r: "reject", e: "edit", m: "merge", f: "follow_up" };

// --- filters: search, category, language, district, a group of duplicates (on the loaded desk) ---
const filter = { text: "", category: "", language: "", district: "", group: null };
const filtering = () => Boolean(filter.text || filter.category || filter.language || filter.district || filter.group);

function matches(q) {
  if (filter.group !== null && state.groups.get(q.id) !== filter.group && q.id !== filter.group) return false;
  if (filter.category && String(q.category_id) !== filter.category) return false;
  if (filter.language && q.language !== filter.language) return false;
  if (filter.district && !(q.district || "").toLowerCase().includes(filter.district)) return false;
  if (filter.text) {
    const hay = `#${q.id} ${q.text} ${q.author_name} ${q.tracking_code} ${q.district}`.toLowerCase();
    if (!hay.includes(filter.text)) return false;
  }
  return true;
}

function groupMembers(group) {
  const out = [];
  for (const [id, g] of state.groups) {
    const q = state.questions.get(id);
    if (g === group && q && OPEN.has(q.status)) out.push(q);
  }
  return out;
}
// open questions per group, counted once per change of the desk (cards ask for it one by one)
let groupCounts = null;
function groupSize(q) {
  if (!state.groups.has(q.id)) return 0;
  if (groupCounts === null) {
    groupCounts = new Map();
    for (const [id, g] of state.groups) {
      const x = state.questions.get(id);
      if (x && OPEN.has(x.status)) groupCounts.set(g, (groupCounts.get(g) || 0) + 1);
    }
  }
  return groupCounts.get(state.groups.get(q.id)) || 0;
}
const categoryName = (id) => state.categories.find((c) => c.id === id)?.name || "";
// questions merged into each question, counted once per change of the desk
let mergedInto = null;
function mergedHere(id) {
  if (mergedInto === null) {
    mergedInto = new Map();
    for (const x of state.questions.values()) {
      if (x.status === "merged" && x.merged_into_id) {
        if (!mergedInto.has(x.merged_into_id)) mergedInto.set(x.merged_into_id, []);
        mergedInto.get(x.merged_into_id).push(x);
      }
    }
  }
  return mergedInto.get(id) || [];
}

function showNewAbove(name, n) {
  if (name !== "incoming") return;
  $("incoming-new").hidden = n <= 0;
  $("incoming-new").textContent = plural(t.new_above, n);
}

const board = createBoard({
  t, locale: data.locale, matches, groupSize, categoryName, mergedCount: (q) => mergedHere(q.id).length,
  onNewAbove: showNewAbove,
  selected: () => state.selected,
  newestFirst: () => prefs.oldestFirst !== true,
  suggestion: (q) => (q.actions.includes("categorize") ? categoryName(state.suggestions.get(q.id)) : ""),
  onSelect: (id) => select(id),
});

function toast(message, undo = null) {
  $("toast-text").textContent = message;
  $("toast-undo").hidden = !undo;
  $("toast-undo").onclick = undo ? () => { $("toast").hidden = true; undo(); } : null;
  $("toast").hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { $("toast").hidden = true; }, undo ? 10000 : 6000);
}

function onAir() {
  for (const q of state.questions.values()) if (q.status === "on_air") return q;
  return null;
}

const busy = new Map();  // question id -> actions in flight on it
async function send(event, payload) {
  // an action is never queued for later: socket.io would replay it when the network returns
  if (!live.socket.connected) { toast(t.offline); return { ok: false, error: { code: "offline", message: t.offline } }; }
  const id = payload && payload.id;
  busy.set(id, (busy.get(id) || 0) + 1);
  const ack = await request(live.socket, event, payload).finally(() => {
    if (busy.get(id) > 1) busy.set(id, busy.get(id) - 1); else busy.delete(id);
  });
  if (!ack.ok) {
    toast(ack.error.message || ack.error.code);
    if (ack.error.code === "stale_version" || ack.error.code === "invalid_transition") live.resync();
  }
  return ack;
}

// --- confirmation: a modal with the safe choice focused, so a stray Enter changes nothing ---
function confirmChoice({ title, text, note, choices }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text || "";
  $("confirm-note").textContent = note || "";
  const buttons = choices.map((c) => h("button", { type: "submit", value: c.value, class: `button ${c.kind || ""}` }, c.label));
  buttons.push(h("button", { type: "submit", value: "", class: "button cancel" }, t.cancel));
  $("confirm-buttons").replaceChildren(...buttons);
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => { resolve(dialog.returnValue || null); restoreFocus(); }, { once: true });
    dialog.showModal();
    buttons.at(-1).focus();  // Cancel
  });
}

async function sendToAir(q) {
  const payload = { id: q.id, version: q.version };
  if (q.confirm.includes("send_to_air")) {
    const ok = await confirmChoice({ title: t.confirm_unmoderated, text: q.text, note: t.confirm_unmoderated_note,
      choices: [{ value: "yes", label: t.confirm_send, kind: "danger" }] });
    if (ok !== "yes") return;
    payload.confirm = true;
  }
  const current = onAir();
  if (current && current.id !== q.id) {
    const finish = await confirmChoice({ title: t.confirm_switch, text: current.text,
      note: fmt(t.switch_next, { text: q.text.slice(0, 160) }), choices: [
      { value: "mark_answered", label: t.switch_answered, kind: "primary" },
      { value: "take_off_air", label: t.switch_requeue }, { value: "defer", label: t.switch_defer }] });
    if (!finish) return;
    payload.finish_current = finish;
    payload.current_id = current.id;  // the server refuses if another question went on air meanwhile
    const ack = await send("send_to_air", payload);
    if (ack.ok && finish === "mark_answered") {
      toast(fmt(t.was_answered, { text: current.text.slice(0, 60) }), () => {
        const now = state.questions.get(current.id);
        if (now && now.actions.includes("reopen")) send("reopen", { id: now.id, version: now.version });
      });
    }
    return;
  }
  await send("send_to_air", payload);
}

async function act(q, action) {
  // a promise may answer any question of the broadcast: the desk offers it on every one
  if (!q.actions.includes(action) && action !== "merge_group" && action !== "accept_category" && action !== "mark_promise") return;
  if (action === "edit" || action === "merge" || action === "reject" || action === "forward_immediately"
    || action === "mark_promise") { openMode(q, action); return; }
  if (action === "unmerge") { await send("unmerge_question", { id: q.id, version: q.version }); return; }
  if (action === "follow_up") { await send("flag_follow_up", { id: q.id, version: q.version, on: !q.appeal?.follow_up }); return; }
  if (action === "send_to_air") { await sendToAir(q); return; }
  if (action === "merge_group") { await mergeGroup(q); return; }
  if (action === "accept_category") {
    const suggested = state.suggestions.get(q.id);
    if (suggested && q.category_id !== suggested && q.actions.includes("categorize")) {
      await send("categorize_question", { id: q.id, version: q.version, category_id: suggested });
    }
    return;
  }
  await send(action, { id: q.id, version: q.version });
}

function restoreFocus() {
  const el = board.card(state.selected);
  if (el && !state.mode) el.focus({ preventScroll: true });
}

// --- the selected question's panel ---
function markSelected(id, on) {
  const el = board.card(id);
  if (!el) return;
  el.classList.toggle("selected", on);
  el.tabIndex = on ? 0 : -1;
  el.setAttribute("aria-selected", String(on));
}

// Unsaved edits, by question: selecting another card keeps what was typed (and the version it was
// typed against, so a change made meanwhile on another screen is still caught at Save).
const drafts = new Map();

function keepDraft() {
  const area = $("edit-text");
  const q = state.mode && state.questions.get(state.mode.id);
  if (state.mode?.kind === "edit" && area && q && area.value !== q.text) {
    drafts.set(q.id, { text: area.value, version: state.mode.version });
  }
}

function select(id, { focus = true } = {}) {
  const previous = state.selected;
  if (previous !== id && state.mode) { keepDraft(); state.mode = null; }
  state.selected = id;
  if (previous !== null) markSelected(previous, false);
  markSelected(id, true);
  const draft = previous !== id && drafts.get(id);
  const q = state.questions.get(id);
  const resume = Boolean(draft && q && q.actions.includes("edit"));
  if (resume) state.mode = { id, kind: "edit", version: draft.version };  // back to the kept edit
  renderInspector(true);
  const el = board.card(id);
  if (el) {
    if (focus && !resume) el.focus({ preventScroll: true });
    el.scrollIntoView({ block: "nearest" });
  }
  if (focus && resume) $("edit-text")?.focus();
  loadSimilar(id);
}

// When the selected question's actions are redrawn (its status changed), other buttons land under
// the pointer: clicks on the new buttons wait a moment, so a double click never does two things.
const GUARD_MS = 500;
let guardUntil = 0;
let guardTimer = null;
function settle() {
  // the buttons look dimmed while they wait, and tests can tell when they are ready
  guardUntil = performance.now() + GUARD_MS;
  for (const id of ["insp-actions", "onair-actions", "similar-list"]) $(id).classList.add("settling");
  clearTimeout(guardTimer);
  guardTimer = setTimeout(() => { for (const id of ["insp-actions", "onair-actions", "similar-list"]) $(id).classList.remove("settling"); }, GUARD_MS);
}
const guarded = () => performance.now() < guardUntil || busy.has(state.selected);
let keysWaitUntil = 0;  // set when a form is submitted (leaveMode)
const keysWait = () => performance.now() < keysWaitUntil || busy.has(state.selected);

function actionButton(q, action) {
  const keys = { approve: "a", queue: "q", send_to_air: "Enter", mark_answered: "x", take_off_air: "u", defer: "d",
    reject: "r", edit: "e", merge: "m", follow_up: "f", unmerge: null };
  let label = t[action];
  if (action === "follow_up") label = q.appeal?.follow_up ? t.follow_up_off : t.follow_up;
  return h("button", { type: "button", class: `button small act-${action}`, dataset: { action },
    "aria-keyshortcuts": keys[action] || null,
    onclick: async () => {
      if (guarded()) return;
      await act(state.questions.get(q.id) || q, action);
      restoreFocus();
    } },
  label, keys[action] ? h("kbd", {}, keys[action] === "Enter" ? "↵" : keys[action]) : null);
}

function renderInspector(modeChanged = false) {
  const q = state.questions.get(state.selected);
  $("insp-empty").hidden = Boolean(q);
  $("insp-body").hidden = !q;
  if (!q) { $("insp-mode").replaceChildren(); return; }
  $("insp-head").replaceChildren(h("b", {}, `#${q.id}`), " ", h("span", { class: "code" }, q.tracking_code || ""), " ",
    h("span", { class: `badge st-${q.status}` }, t.status[q.status] || q.status));
  $("insp-text").textContent = q.text;
  $("insp-original").hidden = !q.original_text;
  $("insp-original").querySelector("p").textContent = q.original_text || "";
  const into = q.status === "merged" && state.questions.get(q.merged_into_id);
  $("insp-into").hidden = !into;
  $("insp-into").replaceChildren(...(into ? [`${t.merged_into} `, h("button", { type: "button", class: "link",
    onclick: () => select(into.id) }, `#${into.id}`), ` ${into.text.slice(0, 120)}`] : []));
  // the ground and the moderator's internal note (staff only: the resident reads the ground in the law's words)
  const ground = q.status === "rejected" && (q.reject_ground === "withdrawn" ? { label: t.withdrawn }
    : data.grounds.find((g) => g.ground === q.reject_ground));
  const reason = [ground ? ground.label : "", q.reject_reason || ""].filter(Boolean).join(" — ");
  $("insp-reason").hidden = !reason;
  $("insp-reason").textContent = reason;
  const a = q.appeal;
  $("insp-meta").replaceChildren(...[[
    q.author_name, q.district, (q.author_name || q.district) && !q.show_name ? t.name_not_for_air : "",
    q.language.toUpperCase(), t[q.channel] || q.channel, q.contact,
    `${t.votes}: ${q.votes}`, `${t.askers}: ${q.asker_count}`, time(q.created_at, data.locale),
  ].filter(Boolean).join(" · "), a && a.due_date ? h("span", { class: `due ${a.urgency || ""}` },
    ` · ${a.urgency ? t[a.urgency] : t.due} ${day(a.due_date, data.locale)}`)
    : a ? h("span", { class: "due none" }, ` · ${t.question_only}`) : null,
  a && a.urgent ? h("span", { class: "badge urgent" }, ` ${t.forwarded_immediately}`) : null,
  a && a.status === "withdrawn" ? h("span", { class: "badge urgent withdrawn" }, ` ${t.withdrawn}`) : null,
  ].filter(Boolean));
  const shown = renderInspector.shown;  // the same question in another status: new buttons under the pointer
  if (shown && shown.id === q.id && shown.status !== q.status) settle();
  renderInspector.shown = { id: q.id, status: q.status };
  const actions = q.actions.filter((x) => x !== "categorize").map((action) => actionButton(q, action));
  const size = groupSize(q);
  if (size > 1 && q.status !== "merged" && q.status !== "rejected") {
    actions.push(h("button", { type: "button", class: "button small act-merge_group", dataset: { action: "merge_group" },
      "aria-keyshortcuts": "g", onclick: async () => { if (guarded()) return; await mergeGroup(q); restoreFocus(); } },
    fmt(t.merge_group, { n: size - 1 }), h("kbd", {}, "g")));
  }
  actions.push(h("button", { type: "button", class: "button small act-mark_promise", dataset: { action: "mark_promise" },
    "aria-keyshortcuts": "p", onclick: () => { if (!guarded()) act(state.questions.get(q.id) || q, "mark_promise"); } },
  t.mark_promise, h("kbd", {}, "p")));
  // blocks the sender on every channel (web, chats, phone); the server finds who the sender is
  actions.push(h("button", { type: "button", class: "button small act-block", dataset: { action: "block_sender" },
    onclick: async () => {
      if (guarded()) return;
      const ok = await confirmChoice({ title: t.block_confirm, text: q.text, note: t.block_note,
        choices: [{ value: "yes", label: t.block_sender, kind: "danger" }] });
      if (ok === "yes") {
        const ack = await send("block_sender", { id: q.id });
        if (ack.ok) toast(t.blocked);
      }
      restoreFocus();
    } }, t.block_sender));
  $("insp-actions").replaceChildren(...actions);
  renderCategory(q);
  renderMerged(q);
  if (modeChanged || !state.mode) renderMode(q);
  else if (state.mode && state.mode.id === q.id && state.mode.version !== q.version) noteConflict(q);
  renderSimilar(q);
}

// The questions merged into the selected one, each with its Unmerge button (Tab reaches them).
function renderMerged(q) {
  const items = mergedHere(q.id);
  const box = $("insp-merged");
  box.hidden = !items.length;
  if (!items.length) { $("merged-list").replaceChildren(); return; }
  $("merged-title").textContent = plural(t.merged_here, items.length);
  $("merged-list").replaceChildren(...items.sort((a, b) => a.id - b.id).map((x) => h("li", { dataset: { id: x.id } },
    h("button", { type: "button", class: "link", onclick: () => select(x.id) }, `#${x.id}`), " ",
    h("span", { class: "text" }, x.text.slice(0, 160)), " ",
    x.actions.includes("unmerge") ? h("button", { type: "button", class: "button tiny", dataset: { unmerge: x.id },
      onclick: async () => {
        if (guarded()) return;
        const now = state.questions.get(x.id) || x;
        const ack = await send("unmerge_question", { id: now.id, version: now.version });
        if (ack.ok) restoreFocus();
      } }, t.unmerge) : null)));
}

function renderCategory(q) {
  const box = $("insp-category");
  if (box.contains(document.activeElement) && box.dataset.id === String(q.id)) return;  // keep what the moderator is choosing
  box.dataset.id = String(q.id);
  if (!q.actions.includes("categorize") || !state.categories.length) { box.replaceChildren(); return; }
  let pointer = false;
  const apply = () => send("categorize_question", { id: q.id, version: q.version, category_id: select_.value ? Number(select_.value) : null });
  // letters typed on a focused select change it at once: that must not reroute an appeal by itself
  const select_ = h("select", { id: "insp-category-select", "aria-label": t.category, title: t.category_enter,
    onpointerdown: () => { pointer = true; },
    onkeydown: (e) => { pointer = false; if (e.key === "Enter") { e.preventDefault(); apply(); } },
    onchange: () => { if (pointer) apply(); pointer = false; } },
  h("option", { value: "" }, t.no_category),
  ...state.categories.map((c) => h("option", { value: c.id, selected: c.id === q.category_id }, c.name)));
  const parts = [h("label", { for: "insp-category-select" }, `${t.category}: `), select_];
  const suggested = state.suggestions.get(q.id);
  if (suggested && suggested !== q.category_id) {
    parts.push(" ", h("span", { class: "badge cat suggested" }, fmt(t.suggested, { name: categoryName(suggested) })), " ",
      h("button", { type: "button", class: "button tiny", dataset: { action: "accept_category" }, "aria-keyshortcuts": "c",
        onclick: async () => { await act(q, "accept_category"); restoreFocus(); } }, t.accept, h("kbd", {}, "c")));
  }
  box.replaceChildren(...parts);
}

// --- edit, reject, merge: forms in the panel; Enter submits the form and nothing else ---
function openMode(q, kind) {
  state.mode = { id: q.id, kind, version: q.version };
  renderInspector(true);
  // rejecting starts on the form itself, so that a ground's key works at once; Tab goes to the note
  const field = kind === "reject" ? $("reject-form") : $("insp-mode").querySelector("textarea, input");
  if (field) { field.focus(); if (field.tagName === "TEXTAREA") field.setSelectionRange(field.value.length, field.value.length); }
}

function leaveMode({ submitted = true } = {}) {
  if (state.mode) drafts.delete(state.mode.id);
  state.mode = null;
  renderInspector(true);
  // a form submitted is gone and the card has the focus: an Enter pressed twice to submit must not
  // reach the card's keys (Enter sends to air), so single keys wait a moment after a form is submitted
  if (submitted) { keysWaitUntil = performance.now() + GUARD_MS; settle(); }  // settle: the buttons say so too
  restoreFocus();
}

function noteConflict(q) {
  // another screen changed the question while this form is open: say so now; the first Save is
  // then refused as stale, and a second Save is the moderator's deliberate choice
  if (state.mode.saving || state.mode.kind === "mark_promise") return;  // our own save; a promise is not the question
  const note = $("insp-mode").querySelector(".conflict");
  if (note) {
    note.hidden = false;
    note.textContent = `${state.mode.kind === "edit" ? t.edit_conflict : t.changed_elsewhere} «${q.text.slice(0, 200)}»`;
  }
}

function renderMode(q) {
  const box = $("insp-mode");
  const mode = state.mode && state.mode.id === q.id ? state.mode : null;
  if (!mode) { box.replaceChildren(); return; }
  const cancel = h("button", { class: "button small", type: "button", onclick: () => leaveMode({ submitted: false }) }, t.cancel);
  const conflict = h("p", { class: "conflict", role: "alert", hidden: true });
  if (mode.kind === "edit") {
    const area = h("textarea", { rows: 4, "aria-label": t.edit, id: "edit-text", maxlength: 4000 });
    const draft = drafts.get(q.id);
    area.value = draft ? draft.text : q.text;
    box.replaceChildren(h("form", { class: "mode", id: "edit-form", onsubmit: async (e) => {
      e.preventDefault();
      state.mode.saving = true;
      const ack = await request(live.socket, "edit_question", { id: q.id, version: state.mode.version, text: area.value });
      if (state.mode) state.mode.saving = false;
      if (ack.ok) { leaveMode(); return; }
      if (ack.error.code === "stale_version") {
        conflict.hidden = false;
        conflict.textContent = t.edit_conflict;
        state.mode.version = state.questions.get(q.id)?.version ?? state.mode.version;
        return;
      }
      conflict.hidden = false;
      conflict.textContent = ack.error.fields?.text || ack.error.message || ack.error.code;
    } }, area, conflict, h("p", { class: "row" }, h("button", { class: "button small primary", type: "submit" }, t.save), cancel)));
    if (draft) {
      conflict.hidden = false;
      conflict.textContent = draft.version === q.version ? t.draft_kept : t.edit_conflict;
    }
    return;
  }
  if (mode.kind === "reject") {
    // the grounds come from the server (data.grounds), one key each; the typed text is an internal note
    const note = h("input", { "aria-label": t.reject_note, placeholder: t.reject_note, maxlength: 300, id: "reject-note", autocomplete: "off" });
    const reject = async (ground) => {
      if (guarded()) return;
      const ack = await send("reject", { id: q.id, version: state.mode.version, ground, note: note.value });
      if (ack.ok) { leaveMode(); return; }
      conflict.hidden = false;
      if (ack.error.code === "stale_version") {
        conflict.textContent = t.changed_elsewhere;
        state.mode.version = state.questions.get(q.id)?.version ?? state.mode.version;
      } else conflict.textContent = ack.error.fields?.ground || ack.error.fields?.note || ack.error.message || ack.error.code;
    };
    const buttons = data.grounds.map((g, i) => h("button", {
      class: `button small${g.statutory ? " danger" : ""}`, type: "button", dataset: { ground: g.ground },
      "aria-keyshortcuts": String(i + 1), title: g.statutory ? t.ground_statutory : t.ground_desk_only,
      onclick: () => reject(g.ground) }, g.label, " ", h("kbd", {}, String(i + 1))));
    const form = h("form", { class: "mode", id: "reject-form", tabindex: "-1", onsubmit: (e) => {
      // Enter in the note chooses nothing: it asks for the ground and goes to the grounds' keys
      e.preventDefault();
      conflict.hidden = false;
      conflict.textContent = t.choose_ground;
      buttons[0].focus();
    } }, note, h("p", { class: "row", role: "group", "aria-label": t.reject_ground }, ...buttons, cancel), conflict);
    form.addEventListener("keydown", (e) => {
      if (e.target === note || e.ctrlKey || e.metaKey || e.altKey || e.isComposing || !/^[1-9]$/.test(e.key)) return;
      const button = buttons[Number(e.key) - 1];
      if (button) { e.preventDefault(); button.click(); }
    });
    box.replaceChildren(form);
    return;
  }
  if (mode.kind === "forward_immediately") {
    const input = h("input", { "aria-label": t.forward_to, placeholder: t.forward_to, maxlength: 200, id: "forward-body",
      autocomplete: "off", required: true });
    box.replaceChildren(h("form", { class: "mode", id: "forward-form", onsubmit: async (e) => {
      e.preventDefault();
      if (guarded()) return;
      const ack = await send("forward_immediately", { id: q.id, version: state.mode.version, forwarded_to: input.value });
      if (ack.ok) { leaveMode(); return; }
      conflict.hidden = false;
      conflict.textContent = ack.error.code === "stale_version" ? t.changed_elsewhere
        : ack.error.fields?.forwarded_to || ack.error.message || ack.error.code;
      state.mode.version = state.questions.get(q.id)?.version ?? state.mode.version;
    } }, h("p", { class: "note" }, t.forward_hint), input, conflict,
    h("p", { class: "row" }, h("button", { class: "button small danger", type: "submit" }, t.forward_immediately), cancel)));
    return;
  }
  if (mode.kind === "mark_promise") {
    // what, who, by when; Enter in any field submits this form only (the desk's keys stay out of fields)
    const today = new Date();
    const min = `${today.getFullYear()}-${String(today.getMonth() + 1).padStart(2, "0")}-${String(today.getDate()).padStart(2, "0")}`;
    const what = h("input", { id: "promise-text", name: "text", maxlength: 500, autocomplete: "off", required: true });
    const who = h("select", { id: "promise-department", name: "department_id" }, h("option", { value: "" }, t.no_department),
      ...data.departments.map((d) => h("option", { value: d.id }, d.name)));
    const whoText = h("input", { id: "promise-responsible", name: "responsible", maxlength: 200, autocomplete: "off" });
    const when = h("input", { id: "promise-due", name: "due_date", type: "date", min, required: true });
    const linked = h("input", { id: "promise-question", name: "question", type: "checkbox", checked: true });
    const field = (label, input) => h("p", { class: "field" }, h("label", { for: input.id }, label), input);
    box.replaceChildren(h("form", { class: "mode promise-form", id: "promise-form", novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      if (state.mode?.sending) return;  // Enter pressed twice marks one promise
      state.mode.sending = true;
      const ack = await send("mark_promise", { text: what.value, department_id: who.value ? Number(who.value) : null,
        responsible: whoText.value, due_date: when.value, question_id: linked.checked ? q.id : null });
      if (state.mode) state.mode.sending = false;
      if (ack.ok) {
        leaveMode();
        toast(ack.promise.moment ? fmt(t.promise_marked, { moment: ack.promise.moment }) : t.promise_marked_no_moment);
        return;
      }
      conflict.hidden = false;
      conflict.textContent = Object.values(ack.error.fields || {}).join(" ") || ack.error.message || ack.error.code;
    } }, field(t.promise_what, what), field(t.promise_who, who), field(t.promise_who_text, whoText),
    field(t.promise_when, when), h("p", { class: "field check" }, linked, h("label", { for: "promise-question" }, `${t.promise_question} #${q.id}`)),
    conflict, h("p", { class: "row" }, h("button", { class: "button small primary", type: "submit" }, t.mark_promise), cancel)));
    return;
  }
  if (mode.kind === "merge") {
    const input = h("input", { type: "search", id: "merge-search", "aria-label": t.merge_search, placeholder: t.merge_search, autocomplete: "off" });
    const candidates = h("ol", { class: "candidates", id: "merge-candidates" });
    const fill = () => candidates.replaceChildren(...mergeCandidates(q, input.value).map((c) => h("li", {},
      h("button", { type: "submit", class: "candidate", name: "target", value: String(c.q.id), dataset: { target: c.q.id } },
        h("b", {}, `#${c.q.id}`), c.score ? h("span", { class: "score" }, fmt(t.similar_score, { score: `${Math.round(c.score * 100)}%` })) : null,
        " ", h("span", { class: `badge st-${c.q.status}` }, t.status[c.q.status]), " ", c.q.text.slice(0, 140)))));
    input.addEventListener("input", () => { fill(); if (!candidates.children.length) candidates.append(h("li", { class: "note" }, t.no_candidates)); });
    // Enter in the search box would submit with the first candidate (the form's default button):
    // there it takes only an exact number; a candidate is chosen by clicking it or Tab and Enter
    input.addEventListener("keydown", (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault();
      const typed = input.value.trim().replace(/^#/, "");
      const exact = /^\d+$/.test(typed) && candidates.querySelector(`button.candidate[data-target="${typed}"]`);
      if (exact) exact.click();
      else { conflict.hidden = false; conflict.textContent = t.merge_pick; }
    });
    box.replaceChildren(h("form", { class: "mode", id: "merge-form", onsubmit: async (e) => {
      e.preventDefault();
      const target = Number(e.submitter && e.submitter.classList.contains("candidate") && e.submitter.value);
      if (!target) { conflict.hidden = false; conflict.textContent = t.merge_pick; return; }
      const ack = await send("merge_question", { id: q.id, version: state.mode.version, target_id: target });
      if (ack.ok) { state.mode = null; select(target); settle(); return; }
      if (ack.error.code === "stale_version") { conflict.hidden = false; conflict.textContent = t.changed_elsewhere; state.mode.version = state.questions.get(q.id)?.version ?? state.mode.version; }
    } }, h("label", { for: "merge-search" }, t.merge_into), input, candidates, conflict, h("p", { class: "row" }, cancel)));
    fill();
  }
}

/** Targets for a merge: the server's likely duplicates first, then what the typed number or words match. */
function mergeCandidates(q, typed) {
  const out = [];
  const seen = new Set([q.id]);
  const mergeable = (x) => x && !seen.has(x.id) && OPEN.has(x.status);  // the server's MERGEABLE_TARGET
  const query = typed.trim().toLowerCase().replace(/^#/, "");
  if (/^\d+$/.test(query)) {
    const exact = state.questions.get(Number(query));
    if (mergeable(exact)) { out.push({ q: exact }); seen.add(exact.id); }
  }
  for (const item of state.similar.get(q.id)?.items || []) {
    const x = state.questions.get(item.id);
    if (mergeable(x) && (!query || x.text.toLowerCase().includes(query) || String(x.id).startsWith(query))) {
      out.push({ q: x, score: item.score }); seen.add(x.id);
    }
  }
  if (query) {
    for (const x of state.questions.values()) {
      if (out.length >= 12) break;
      if (mergeable(x) && (x.text.toLowerCase().includes(query) || String(x.id).startsWith(query))) { out.push({ q: x }); seen.add(x.id); }
    }
  }
  return out.slice(0, 12);
}

async function mergeGroup(q) {
  const group = state.groups.get(q.id);
  const members = group === undefined ? [] : groupMembers(group).filter((x) => x.id !== q.id && ["pending", "approved", "queued", "deferred"].includes(x.status));
  if (!members.length) return;
  // a group is a guess: the moderator sees every question it would merge before it happens
  const ok = await confirmChoice({ title: fmt(t.merge_group_confirm, { n: members.length, id: q.id }), text: q.text,
    note: members.map((x) => `#${x.id}: ${x.text.slice(0, 90)}`).join("\n"),
    choices: [{ value: "yes", label: t.merge, kind: "primary" }] });
  if (ok !== "yes") return;
  const ack = await send("merge_group", { target_id: q.id, sources: members.map((x) => ({ id: x.id, version: x.version })) });
  if (ack.ok) toast(fmt(t.merged_n, { n: ack.merged }) + (ack.skipped.length ? ` · ${fmt(t.skipped_n, { n: ack.skipped.length })}` : ""));
}

// --- likely duplicates and suggested categories, from the server ---
async function loadSimilar(id) {
  const q = state.questions.get(id);
  if (!q || !OPEN.has(q.status)) { state.similar.delete(id); renderSimilar(q); return; }
  const cached = state.similar.get(id);
  if (cached && cached.version === q.version) { renderSimilar(q); return; }
  const ack = await request(live.socket, "similar_questions", { id });
  if (!ack.ok) return;
  state.similar.set(id, { version: q.version, items: ack.similar });
  if (state.selected === id) renderSimilar(state.questions.get(id));
}

function renderSimilar(q) {
  const items = (q && state.similar.get(q.id)?.items || []).map((item) => ({ item, x: state.questions.get(item.id) }))
    .filter(({ x }) => x && OPEN.has(x.status));
  $("insp-similar").hidden = !items.length;
  $("similar-list").replaceChildren(...items.map(({ item, x }) => h("li", { dataset: { id: x.id } },
    h("button", { type: "button", class: "link", onclick: () => select(x.id) }, `#${x.id}`), " ",
    h("span", { class: "score" }, fmt(t.similar_score, { score: `${Math.round(item.score * 100)}%` })), " ",
    h("span", { class: `badge st-${x.status}` }, t.status[x.status]), " ", h("span", { class: "text" }, x.text.slice(0, 160)), " ",
    q.actions.includes("merge") ? h("button", { type: "button", class: "button tiny", dataset: { mergeInto: x.id },
      onclick: async () => {
        if (guarded()) return;
        const ack = await send("merge_question", { id: q.id, version: q.version, target_id: x.id });
        if (ack.ok) { select(x.id); settle(); }
      } }, t.merge_here) : null)));
}

let insightTimer = null;
function requestInsights(ids) {
  for (const id of ids) state.known.delete(id);
  clearTimeout(insightTimer);
  insightTimer = setTimeout(loadInsights, 400);  // a burst of arrivals becomes one request
}

async function loadInsights() {
  const all = state.known.size === 0;  // after a snapshot: the whole desk in one request
  const ids = [...state.questions.values()].filter((q) => OPEN.has(q.status) && !state.known.has(q.id)).map((q) => q.id);
  if (!ids.length) return;
  for (const id of ids) state.known.add(id);
  const ack = await request(live.socket, "desk_insights", all ? { all: true } : { ids: ids.slice(0, 5000) }, 60000);
  if (!ack.ok) { for (const id of ids) state.known.delete(id); return; }
  const touched = new Set(ids);
  groupCounts = null;
  for (const id of ids) { state.groups.delete(id); state.suggestions.delete(id); }
  for (const [id, group] of Object.entries(ack.groups)) {
    state.groups.set(Number(id), group);
    for (const [other, g] of state.groups) if (g === group) touched.add(other);  // their group grew
  }
  for (const [id, category] of Object.entries(ack.suggestions)) state.suggestions.set(Number(id), category);
  board.update(state.questions, [...touched].filter((id) => state.questions.has(id)));
  renderGroups();
  if (touched.has(state.selected)) renderInspector();
}

function renderGroups() {
  const sizes = new Map();
  for (const [id, g] of state.groups) {
    const q = state.questions.get(id);
    if (q && OPEN.has(q.status)) sizes.set(g, (sizes.get(g) || 0) + 1);
  }
  const groups = [...sizes].filter(([, n]) => n > 1).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  $("groups-count").textContent = String(groups.length);
  $("groups-list").replaceChildren(...groups.slice(0, 30).map(([g, n]) => {
    const first = groupMembers(g).sort((a, b) => a.id - b.id)[0];
    return h("li", {}, h("button", { type: "button", class: "link group-link", dataset: { group: g }, onclick: () => showGroup(g) },
      h("b", {}, `${n}`), " · ", (first?.text || "").slice(0, 80)));
  }));
}

function showGroup(group) {
  $("groups").open = false;
  filter.group = group;
  $("f-group").hidden = false;
  $("f-group").textContent = fmt(t.group_filter, { id: group });
  refresh();
  const members = groupMembers(group).sort((a, b) => b.votes - a.votes || a.id - b.id);
  // the target: the member furthest along (on air, queued, approved), else the most voted
  const rank = { on_air: 0, queued: 1, approved: 2, answered: 3, deferred: 4, pending: 5 };
  members.sort((a, b) => rank[a.status] - rank[b.status] || b.votes - a.votes || a.id - b.id);
  if (members[0]) select(members[0].id);
}
$("f-group").addEventListener("click", () => { filter.group = null; $("f-group").hidden = true; refresh(); });

// --- counters, the on-air strip ---
function renderStrip() {
  const q = onAir();
  const id = q ? q.id : null;  // another question on air: new buttons under the pointer
  if (renderStrip.shown !== undefined && id !== renderStrip.shown) settle();
  renderStrip.shown = id;
  $("onair").dataset.state = q ? "live" : "idle";
  $("onair-idle").hidden = Boolean(q);
  $("onair-actions").replaceChildren(...(q ? ["mark_answered", "take_off_air", "defer"].filter((a) => q.actions.includes(a))
    .map((action) => actionButton(q, action)) : []));
  const next = [...state.questions.values()].filter((x) => x.status === "queued").sort((a, b) => a.position - b.position || a.id - b.id)[0];
  $("onair-next").textContent = next ? `#${next.id} · ${next.text}` : "—";
  tick();
}

function tick() {
  const q = onAir();
  if (!q || !q.aired_at) { $("onair-timer").textContent = ""; return; }
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(q.aired_at)) / 1000));
  $("onair-timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
setInterval(tick, 1000);

const timings = [];
window.deskTimings = timings;

// Changes are applied once per frame: a burst of arrivals costs one layout, and the counters are
// redrawn once, not once per question.
const pendingIds = new Set();
let pendingFlush = false;
function refreshSoon(ids) {
  for (const id of ids) pendingIds.add(id);
  if (pendingFlush) return;
  pendingFlush = true;
  requestAnimationFrame(flushPending);
  setTimeout(flushPending, 100);  // a hidden tab runs no frames: apply anyway
}
function flushPending() {
  if (!pendingFlush) return;
  pendingFlush = false;
  const ids = [...pendingIds];
  pendingIds.clear();
  if (ids.length) refresh(ids);
}

function refresh(ids = null) {
  const started = performance.now();
  if (ids === null) pendingIds.clear();
  groupCounts = null;
  mergedInto = null;
  if (ids === null) board.rebuild(state.questions); else board.update(state.questions, ids);
  let waiting = 0; let queued = 0; let answered = 0;
  for (const q of state.questions.values()) {
    if (q.status === "pending") waiting += 1;
    else if (q.status === "queued") queued += 1;
    else if (q.status === "answered") answered += 1;
  }
  let shown = 0;
  for (const name of Object.keys(board.order)) {
    shown += board.count(name);
    const count = document.querySelector(`[data-count="${name}"]`);
    if (count) count.textContent = board.count(name);
  }
  $("count-waiting").textContent = waiting;
  $("count-queued").textContent = queued;
  $("count-answered").textContent = answered;
  $("f-shown").textContent = filtering() ? fmt(t.shown, { n: shown, total: state.questions.size }) : "";
  if (ids === null || ids.some((id) => state.questions.get(id)?.status === "on_air" || id === state.stripId)) renderStrip();
  state.stripId = onAir()?.id;
  if (ids === null || ids.includes(state.selected)) renderInspector();
  // for the benchmark and the browser tests: how long the last full render and the last updates took
  const took = performance.now() - started;
  document.documentElement.dataset[ids === null ? "renderMs" : "updateMs"] = took.toFixed(2);
  // one entry per question applied: each of them waited this long (the bench's per-arrival figure)
  if (ids !== null) { for (let i = 0; i < ids.length; i += 1) timings.push(took); if (timings.length > 5000) timings.splice(0, timings.length - 5000); }
}

$("filters").addEventListener("input", (e) => {
  const { name, value } = e.target;
  if (!(name in filter)) return;
  filter[name] = ["text", "district"].includes(name) ? value.trim().toLowerCase() : value;
  refresh();
});
$("filters").addEventListener("submit", (e) => e.preventDefault());

function fillCategoryFilter() {
  const select_ = $("f-category");
  const current = select_.value;
  select_.replaceChildren(select_.options[0], ...state.categories.map((c) => h("option", { value: c.id }, c.name)));
  select_.value = current;
}

function applyOrderButton() {
  $("incoming-order").textContent = prefs.oldestFirst ? t.oldest_first : t.newest_first;
  $("incoming-order").setAttribute("aria-pressed", String(!prefs.oldestFirst));
}
$("incoming-order").addEventListener("click", () => { prefs.oldestFirst = !prefs.oldestFirst; savePrefs(); applyOrderButton(); refresh(); });
applyOrderButton();

// --- keyboard: single keys act only on the selected card, never while a field or button has focus ---
function moveSelection(step) {
  const name = board.column(state.selected);
  const ids = board.visibleIds(name && name !== "onair" ? name : null);
  if (!ids.length) return;
  const index = ids.indexOf(state.selected);
  select(ids[index < 0 ? 0 : Math.min(Math.max(index + step, 0), ids.length - 1)]);
}

function moveColumn(step) {
  const names = ["incoming", "approved", "queue", "done"];
  let i = names.indexOf(board.column(state.selected));
  for (let n = 0; n < names.length; n += 1) {
    i = (i + step + names.length) % names.length;
    const ids = board.visibleIds(names[i]);
    if (ids.length) { select(ids[0]); return; }
  }
}

function shownQueue() {
  return [...$("list-queue").children].map((el) => Number(el.dataset.id)).filter(Boolean);
}

/** The whole queue (a filter may hide some of it), with the shown cards in `shown`'s order. */
function queueOrder(shown = shownQueue()) {
  const all = [...state.questions.values()].filter((q) => q.status === "queued")
    .sort((a, b) => a.position - b.position || a.id - b.id).map((q) => q.id);
  const visible = new Set(shown);
  const next = shown[Symbol.iterator]();
  return all.map((id) => (visible.has(id) ? next.next().value : id));
}

function moveInQueue(id, step) {
  const ids = shownQueue();
  const i = ids.indexOf(id);
  const j = i + step;
  if (i < 0 || j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  send("reorder_queue", { order: queueOrder(ids) });
}

function shortcutTarget(target) {
  // the page itself or a question card; any control, form, dialog or link keeps its keys
  if (!target || target === document.body || target === document.documentElement) return true;
  return target.classList?.contains("qcard") === true;
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("help").hidden) { toggleHelp(false); return; }
  if (e.key === "Escape" && state.mode && !$("confirm").open) { e.preventDefault(); leaveMode({ submitted: false }); return; }
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.isComposing || $("confirm").open) return;
  if (!shortcutTarget(e.target)) return;
  if (e.key === "?") { toggleHelp(); return; }
  if (e.key === "/") { e.preventDefault(); $("f-text").focus(); return; }
  if (e.key === "b") { e.preventDefault(); openTab("tab-backstage"); $("b-text").focus(); return; }
  if (e.key === "j" || e.key === "ArrowDown" && !e.altKey) { e.preventDefault(); moveSelection(1); return; }
  if (e.key === "k" || e.key === "ArrowUp" && !e.altKey) { e.preventDefault(); moveSelection(-1); return; }
  if (e.key === "ArrowRight" || e.key === "ArrowLeft") { e.preventDefault(); moveColumn(e.key === "ArrowRight" ? 1 : -1); return; }
  const q = state.questions.get(state.selected);
  if (!q) return;
  if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
    e.preventDefault();
    moveInQueue(q.id, e.key === "ArrowUp" ? -1 : 1);
    return;
  }
  if (e.altKey || e.shiftKey) return;
  if (e.key === "g") { e.preventDefault(); if (!keysWait()) act(q, "merge_group"); return; }
  if (e.key === "c") { e.preventDefault(); if (!keysWait()) act(q, "accept_category"); return; }
  if (e.key === "p") { e.preventDefault(); if (!keysWait()) act(q, "mark_promise"); return; }
  const action = KEYS[e.key];
  if (action && q.actions.includes(action)) {
    e.preventDefault();
    // one action at a time on a question (a key pressed twice does it once), and none in the moment
    // after a form was submitted
    if (!keysWait()) act(q, action);
  }
});

function toggleHelp(show = $("help").hidden) {
  $("help").hidden = !show;
  $("help-toggle").setAttribute("aria-expanded", String(show));
}
$("help-toggle").addEventListener("click", (e) => { e.stopPropagation(); toggleHelp(); });
$("help-close").addEventListener("click", () => toggleHelp(false));
document.addEventListener("click", (e) => { if (!$("help").hidden && !e.target.closest("#help")) toggleHelp(false); });

// --- the tools drawer: backstage, phone caller, settings, invite ---
const tabs = [...document.querySelectorAll(".tabs [role=tab]")];
// The drawer starts folded (the selected question gets the room); a tab opens its panel, and
// the open tab folds it again.
function openTab(id, { toggle = false } = {}) {
  for (const tab of tabs) {
    const on = tab.id === id && !(toggle && tab.getAttribute("aria-expanded") === "true");
    tab.setAttribute("aria-selected", String(tab.id === id));
    tab.setAttribute("aria-expanded", String(on));
    tab.tabIndex = tab.id === id ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
}
for (const tab of tabs) {
  tab.addEventListener("click", () => openTab(tab.id, { toggle: true }));
  tab.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    e.preventDefault();
    const next = tabs[(tabs.indexOf(tab) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
    openTab(next.id);
    next.focus();
  });
}

function applyMute() {
  $("mute").setAttribute("aria-pressed", String(!!prefs.muted));
  $("mute").textContent = prefs.muted ? t.sound_off : t.sound_on;
}
$("mute").addEventListener("click", () => { prefs.muted = !prefs.muted; savePrefs(); applyMute(); });
applyMute();

let audio = null;
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

const baseTitle = document.title;
let unseen = 0;
let lastChime = 0;
function announceNew(count) {
  if (!count) return;
  if (performance.now() - lastChime > 2000) { lastChime = performance.now(); chime(); }  // a flood is one chime, not a siren
  if (document.hidden || !document.hasFocus()) {
    unseen += count;
    document.title = `(${unseen}) ${baseTitle}`;
  }
  document.documentElement.dataset.unseen = String(unseen);
}
function clearBadge() { unseen = 0; document.title = baseTitle; document.documentElement.dataset.unseen = "0"; }
window.addEventListener("focus", clearBadge);
document.addEventListener("visibilitychange", () => { if (!document.hidden) clearBadge(); });

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
  const ack = await send("send_backstage", { text: $("b-text").value });
  if (ack.ok) $("b-text").value = "";
});
for (const button of document.querySelectorAll("[data-quick]")) {
  button.addEventListener("click", () => send("send_backstage", { text: button.dataset.quick }));
}
for (const button of document.querySelectorAll("[data-seconds]")) {
  button.addEventListener("click", () => send("set_countdown", { seconds: Number(button.dataset.seconds) }));
}

function applySettings(settings) {
  state.settings = settings;
  for (const input of $("settings").elements) input.checked = !!settings[input.name];
  const cleared = Boolean(settings.overlay_cleared);
  $("overlay-toggle").textContent = cleared ? t.overlay_show : t.overlay_clear;
  $("overlay-toggle").setAttribute("aria-pressed", String(cleared));
  $("overlay-toggle").classList.toggle("danger", cleared);
  $("overlay-state").textContent = cleared ? t.overlay_cleared : "";
}
$("settings").addEventListener("change", (e) => send("update_settings", { settings: { [e.target.name]: e.target.checked } }));
$("overlay-toggle").addEventListener("click", () => send("update_settings", { settings: { overlay_cleared: !state.settings.overlay_cleared } }));

$("phone-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const payload = Object.fromEntries(["text", "author_name", "district", "contact"].map((k) => [k, form.elements[k].value]));
  payload.consent = form.elements.consent.checked;
  payload.show_name = form.elements.show_name.checked;
  payload.client_id = crypto.randomUUID ? crypto.randomUUID().replaceAll("-", "") : String(Date.now()) + Math.random().toString(16).slice(2);
  const ack = await send("add_phone_question", payload);
  if (ack.ok) {
    form.reset();
    $("phone-status").textContent = fmt(t.added, { code: ack.question.tracking_code });
  }
});

// eslint-disable-next-line no-undef
Sortable.create($("list-queue"), {
  animation: 120,
  filter: ".more",
  onStart: () => board.hold(),
  onEnd: () => {
    const order = queueOrder();  // as dropped, before held changes redraw the list
    board.release();
    send("reorder_queue", { order });
  },
});

const live = connectLive({
  namespace: "/staff",
  slug: data.slug,
  onSnapshot(snapshot) {
    state.questions = new Map(snapshot.questions.map((q) => [q.id, q]));
    state.categories = snapshot.categories;
    state.known.clear();
    applySettings(snapshot.settings);
    fillCategoryFilter();
    renderBackstage(snapshot.backstage);
    if (state.mode && !state.questions.has(state.mode.id)) state.mode = null;
    refresh();
    requestInsights([]);
  },
  onStatus: showConnection($("conn"), t),
});

live.socket.on("desk_changed", live.versioned((event) => {
  if (event.settings) applySettings(event.settings);
  if (event.backstage) renderBackstage(event.backstage);
  const ids = event.questions.map((q) => q.id);
  announceNew(event.questions.filter((q) => !state.questions.has(q.id)).length);
  const changed = [];
  for (const q of event.questions) {
    const before = state.questions.get(q.id);
    if (!before || before.text !== q.text || OPEN.has(before.status) !== OPEN.has(q.status)) changed.push(q.id);
    state.questions.set(q.id, q);
  }
  refreshSoon(ids);
  if (changed.length) requestInsights(changed);
}));
live.socket.on("votes_changed", (event) => {
  const ids = [];
  for (const [id, votes] of Object.entries(event.votes)) {
    const q = state.questions.get(Number(id));
    if (q) { q.votes = votes; ids.push(q.id); }
  }
  if (ids.length) refreshSoon(ids);
});
$("incoming-new").addEventListener("click", () => board.toTop("incoming"));
