// The desk's board: the columns (desk-board.js) over the shared state, the "new above" pill, and the focus going back to the selected card.
import { createBoard } from "../desk-board.js";
import { plural } from "../dom.js";
import { $, categoryName, columnTotal, data, filtering, groupSize, matches, mergedHere, partial, prefs, state, t } from "./state.js";
import { hub } from "./hub.js";
import { hasMore, loadPage, reached } from "./pages.js";

function showNewAbove(name, n) {
  if (name !== "incoming") return;
  $("incoming-new").hidden = n <= 0;
  $("incoming-new").textContent = plural(t.new_above, n);
}

export const board = createBoard({
  t, locale: data.locale, matches: (q) => matches(q) && reached(q), groupSize,
  // a long broadcast: the server's count of a column (not while a search shows only what the desk holds)
  total: (name) => (partial() && !filtering() ? columnTotal(name) : null),
  more: hasMore, loadMore: loadPage, categoryName, mergedCount: (q) => mergedHere(q.id).length,
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
