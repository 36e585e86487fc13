// The desk's board: the columns (desk-board.js) over the shared state, the "new above" pill, and the focus going back to the selected card.
import { columnOf, createBoard } from "../desk-board.js";
import { plural } from "../dom.js";
import { $, categoryName, columnTotal, data, filtering, groupSize, matches, mergedHere, partial, prefs, state, t } from "./state.js";
import { hub } from "./hub.js";
import { hasMore, loadPage, reached } from "./pages.js";

function heldIn(name) {
  let n = 0;
  for (const q of state.questions.values()) if (columnOf(q) === name) n += 1;
  return n;
}

function showNewAbove(name, n) {
  if (name !== "incoming") return;
  $("incoming-new").hidden = n <= 0;
  $("incoming-new").textContent = plural(t.new_above, n);
}

export const board = createBoard({
  t, locale: data.locale, matches: (q) => matches(q) && reached(q), groupSize,
  // a long broadcast: the server's count of a column (not while a search shows only what the desk holds)
  total: (name) => (partial() && !filtering() ? columnTotal(name) : null),
  unheld: (name) => (filtering() && hasMore(name) ? Math.max(0, columnTotal(name) - heldIn(name)) : 0),
  more: hasMore,
  // the counters and the filter line too: a search's results grew
  loadMore: async (name) => { const brought = await loadPage(name); if (brought) hub.refresh(); return brought; }, categoryName, mergedCount: (q) => mergedHere(q.id).length,
  onNewAbove: showNewAbove,
  selected: () => state.selected,
  newestFirst: () => prefs.oldestFirst !== true,
  suggestion: (q) => (q.actions.includes("categorize") ? categoryName(state.suggestions.get(q.id)) : ""),
  onSelect: (id) => hub.select(id),
});

export function restoreFocus() {
  const el = board.card(state.selected);
  if (el && !state.mode) el.focus({ preventScroll: true });
}
