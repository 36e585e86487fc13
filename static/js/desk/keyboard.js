// The keyboard: single keys act only on the selected card, never while a field or button has focus; ? shows the keys.
import { $, state } from "./state.js";
import { keysWait } from "./guard.js";
import { board } from "./board.js";
import { act } from "./actions.js";
import { leaveMode } from "./modes.js";
import { select } from "./inspector.js";
import { moveInQueue } from "./queue.js";
import { openTab } from "./drawer.js";

// key -> action; the action runs only when the selected question allows it
const KEYS = { a: "approve", q: "queue", Enter: "send_to_air", x: "mark_answered", u: "take_off_air", d: "defer",
  r: "reject", e: "edit", m: "merge", f: "follow_up" };

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

function shortcutTarget(target) {
  // the page itself or a question card; any control, form, dialog or link keeps its keys
  if (!target || target === document.body || target === document.documentElement) return true;
  return target.classList?.contains("qcard") === true;
}

function toggleHelp(show = $("help").hidden) {
  $("help").hidden = !show;
  $("help-toggle").setAttribute("aria-expanded", String(show));
}

export function wireKeyboard() {
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
  $("help-toggle").addEventListener("click", (e) => { e.stopPropagation(); toggleHelp(); });
  $("help-close").addEventListener("click", () => toggleHelp(false));
  document.addEventListener("click", (e) => { if (!$("help").hidden && !e.target.closest("#help")) toggleHelp(false); });
}
