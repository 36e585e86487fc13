// The selected question's panel (the inspector): selecting a card, its text, details, actions, category, merged questions.
import { day, fmt, h, plural, time } from "../dom.js";
import { $, categoryName, data, groupSize, mergedHere, state, t } from "./state.js";
import { send } from "./server.js";
import { guarded, settle } from "./guard.js";
import { toast } from "./toast.js";
import { confirmChoice } from "./confirm.js";
import { board, restoreFocus } from "./board.js";
import { act, actionButton, mergeGroup } from "./actions.js";
import { drafts, keepDraft, noteConflict, renderMode } from "./modes.js";
import { loadSimilar, renderSimilar } from "./insights.js";

function markSelected(id, on) {
  const el = board.card(id);
  if (!el) return;
  el.classList.toggle("selected", on);
  el.tabIndex = on ? 0 : -1;
  el.setAttribute("aria-selected", String(on));
}

export function select(id, { focus = true } = {}) {
  const previous = state.selected;
  if (previous !== id && state.mode) { keepDraft(); state.mode = null; }
  state.selected = id;
  if (previous !== null) markSelected(previous, false);
  board.show(id);  // a question held under the new-above pill gets its card
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

export function renderInspector(modeChanged = false) {
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
  if (size > 1 && q.open) {
    actions.push(h("button", { type: "button", class: "button small act-merge_group", dataset: { action: "merge_group" },
      "aria-keyshortcuts": data.keys.merge_group, onclick: async () => { if (guarded()) return; await mergeGroup(q); restoreFocus(); } },
    fmt(t.merge_group, { n: size - 1 }), h("kbd", {}, data.keys.merge_group)));
  }
  actions.push(h("button", { type: "button", class: "button small act-mark_promise", dataset: { action: "mark_promise" },
    "aria-keyshortcuts": data.keys.mark_promise, onclick: () => { if (!guarded()) act(state.questions.get(q.id) || q, "mark_promise"); } },
  t.mark_promise, h("kbd", {}, data.keys.mark_promise)));
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
      h("button", { type: "button", class: "button tiny", dataset: { action: "accept_category" }, "aria-keyshortcuts": data.keys.accept_category,
        onclick: async () => { await act(q, "accept_category"); restoreFocus(); } }, t.accept, h("kbd", {}, data.keys.accept_category)));
  }
  box.replaceChildren(...parts);
}
