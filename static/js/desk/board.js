// The desk's board: the columns (desk-board.js) over the shared state, the "new above" pill, and the focus going back to the selected card.
import { createBoard } from "../desk-board.js";
import { plural } from "../dom.js";
import { $, categoryName, data, groupSize, matches, mergedHere, prefs, state, t } from "./state.js";
import { hub } from "./hub.js";

function showNewAbove(name, n) {
  if (name !== "incoming") return;
  $("incoming-new").hidden = n <= 0;
  $("incoming-new").textContent = plural(t.new_above, n);
}

export const board = createBoard({
  t, locale: data.locale, matches, groupSize, categoryName, mergedCount: (q) => mergedHere(q.id).length,
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
