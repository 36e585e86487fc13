// The keyboard: single keys act only on the selected card, never while a field or button has focus; ? shows the keys.
import { $, data, state } from "./state.js";
import { keysWait } from "./guard.js";
import { board } from "./board.js";
import { act } from "./actions.js";
import { leaveMode } from "./modes.js";
import { select } from "./inspector.js";
import { moveInQueue } from "./queue.js";
import { openTab } from "./drawer.js";

// key -> action, from the server's one map (web/staff.py DESK_KEYS); a transition runs only when the selected
// question allows it, the three others (not transitions) check for themselves in act()
const KEYS = Object.fromEntries(Object.entries(data.keys).map(([action, key]) => [key, action]));
const NOT_TRANSITIONS = new Set(["merge_group", "accept_category", "mark_promise"]);

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
    const action = KEYS[e.key];
    if (action && (NOT_TRANSITIONS.has(action) || q.actions.includes(action))) {
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
