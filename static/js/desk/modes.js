// The forms in the selected question's panel ("modes"): edit, reject, forward, mark a promise, merge; Enter submits the form and nothing else.
import { fmt, h } from "../dom.js";
import { $, data, state, t } from "./state.js";
import { ask, send } from "./server.js";
import { guarded, holdKeys, settle } from "./guard.js";
import { toast } from "./toast.js";
import { board, restoreFocus } from "./board.js";
import { hub } from "./hub.js";
import { takeNewer } from "./pages.js";

// Unsaved edits, by question: selecting another card keeps what was typed (and the version it was
// typed against, so a change made meanwhile on another screen is still caught at Save).
export const drafts = new Map();

export function keepDraft() {
  const area = $("edit-text");
  const q = state.mode && state.questions.get(state.mode.id);
  if (state.mode?.kind === "edit" && area && q && area.value !== q.text) {
    drafts.set(q.id, { text: area.value, version: state.mode.version });
  }
}

export function openMode(q, kind) {
  state.mode = { id: q.id, kind, version: q.version };
  hub.renderInspector(true);
  // rejecting starts on the form itself, so that a ground's key works at once; Tab goes to the note
  const field = kind === "reject" ? $("reject-form") : $("insp-mode").querySelector("textarea, input");
  if (field) { field.focus(); if (field.tagName === "TEXTAREA") field.setSelectionRange(field.value.length, field.value.length); }
}

export function leaveMode({ submitted = true } = {}) {
  if (state.mode) drafts.delete(state.mode.id);
  state.mode = null;
  hub.renderInspector(true);
  // a form submitted is gone and the card has the focus: an Enter pressed twice to submit must not
  // reach the card's keys (Enter sends to air), so single keys wait a moment after a form is submitted
  if (submitted) { holdKeys(); settle(); }  // settle: the buttons say so too
  restoreFocus();
}

export function noteConflict(q) {
  // another screen changed the question while this form is open: say so now; the first Save is
  // then refused as stale, and a second Save is the moderator's deliberate choice
  if (state.mode.saving || state.mode.kind === "mark_promise") return;  // our own save; a promise is not the question
  const note = $("insp-mode").querySelector(".conflict");
  if (note) {
    note.hidden = false;
    note.textContent = `${state.mode.kind === "edit" ? t.edit_conflict : t.changed_elsewhere} «${q.text.slice(0, 200)}»`;
  }
}

export function renderMode(q) {
  const box = $("insp-mode");
  const mode = state.mode && state.mode.id === q.id ? state.mode : null;
  if (!mode) { box.replaceChildren(); return; }
  const cancel = h("button", { class: "button small", type: "button", onclick: () => leaveMode({ submitted: false }) }, t.cancel);
  const conflict = h("p", { class: "conflict", role: "alert", hidden: true });
  if (mode.kind === "edit") {
    const area = h("textarea", { rows: 4, "aria-label": t.edit, id: "edit-text", maxlength: data.limits.QUESTION });
    const draft = drafts.get(q.id);
    area.value = draft ? draft.text : q.text;
    box.replaceChildren(h("form", { class: "mode", id: "edit-form", onsubmit: async (e) => {
      e.preventDefault();
      state.mode.saving = true;
      const ack = await ask("edit_question", { id: q.id, version: state.mode.version, text: area.value });
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
    const note = h("input", { "aria-label": t.reject_note, placeholder: t.reject_note, maxlength: data.limits.REJECT_NOTE, id: "reject-note", autocomplete: "off" });
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
    const input = h("input", { "aria-label": t.forward_to, placeholder: t.forward_to, maxlength: data.limits.FORWARDED_TO, id: "forward-body",
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
    const what = h("input", { id: "promise-text", name: "text", maxlength: data.limits.PROMISE_TEXT, autocomplete: "off", required: true });
    const who = h("select", { id: "promise-department", name: "department_id" }, h("option", { value: "" }, t.no_department),
      ...data.departments.map((d) => h("option", { value: d.id }, d.name)));
    const whoText = h("input", { id: "promise-responsible", name: "responsible", maxlength: data.limits.RESPONSIBLE, autocomplete: "off" });
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
        const marked = ack.promise.id;
        // Undo: a promise marked by mistake is taken back while nobody has worked on it yet
        toast(ack.promise.moment ? fmt(t.promise_marked, { moment: ack.promise.moment }) : t.promise_marked_no_moment,
          async () => {
            const taken = await ask("withdraw_promise", { id: marked }).catch(() => null);
            toast(taken && taken.ok ? t.promise_withdrawn : ((taken && taken.error && taken.error.message) || t.offline));
          });
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
    const refill = () => { fill(); if (!candidates.children.length) candidates.append(h("li", { class: "note" }, t.no_candidates)); };
    let lookup = null;
    input.addEventListener("input", () => {
      refill();
      // a number the desk does not hold (a long broadcast arrives in pages): the server is asked for it, once
      // the typing pauses (not once a digit)
      clearTimeout(lookup);
      const typed = input.value.trim().replace(/^#/, "");
      if (!/^\d{1,18}$/.test(typed) || state.questions.has(Number(typed))) return;
      lookup = setTimeout(async () => {
        const ack = await ask("desk_question", { id: Number(typed) });
        if (ack.ok && takeNewer(ack.question)) board.update(state.questions, [ack.question.id]);
        if (ack.ok && input.isConnected && input.value.trim().replace(/^#/, "") === typed) refill();
      }, 250);
    });
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
      if (ack.ok) { state.mode = null; hub.select(target); settle(); return; }
      if (ack.error.code === "stale_version") { conflict.hidden = false; conflict.textContent = t.changed_elsewhere; state.mode.version = state.questions.get(q.id)?.version ?? state.mode.version; }
    } }, h("label", { for: "merge-search" }, t.merge_into), input, candidates, conflict, h("p", { class: "row" }, cancel)));
    fill();
  }
}

/** Targets for a merge: the server's likely duplicates first, then what the typed number or words match. */
function mergeCandidates(q, typed) {
  const out = [];
  const seen = new Set([q.id]);
  const mergeable = (x) => x && !seen.has(x.id) && x.open;  // the server says which may take a merge
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
