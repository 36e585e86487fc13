// The moderator's control room: the on-air strip, the columns, the selected question's panel,
// the keyboard, and the tools drawer. The server sends, with each question, the actions its
// status allows; this screen shows those and keeps no state machine of its own.
// This file only wires the desk's modules (static/js/desk/, one job each) to the server's events.
import { connectLive, showConnection } from "./live.js";
import { $, countMove, data, state, t } from "./desk/state.js";
import { hub } from "./desk/hub.js";
import { attach } from "./desk/server.js";
import { board } from "./desk/board.js";
import { renderInspector, select } from "./desk/inspector.js";
import { requestInsights } from "./desk/insights.js";
import { refresh, refreshSoon, startClock } from "./desk/render.js";
import { fillCategoryFilter, wireFilters } from "./desk/filters.js";
import { wireQueueDrag } from "./desk/queue.js";
import { announceNew, applySettings, renderBackstage, wireDrawer } from "./desk/drawer.js";
import { wireKeyboard } from "./desk/keyboard.js";
import { climbed, fetchSoon } from "./desk/pages.js";

hub.select = select;
hub.renderInspector = renderInspector;
hub.refresh = refresh;

wireFilters();
startClock();
wireKeyboard();
wireDrawer();
wireQueueDrag();

const live = connectLive({
  namespace: "/staff",
  slug: data.slug,
  onSnapshot(snapshot) {
    state.questions = new Map(snapshot.questions.map((q) => [q.id, q]));
    state.counts = snapshot.counts;
    state.columns = snapshot.columns;
    state.pages = snapshot.pages;
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
attach(live);

live.socket.on("desk_changed", live.versioned((event) => {
  if (event.settings) applySettings(event.settings);
  if (event.backstage) renderBackstage(event.backstage);
  const ids = event.questions.map((q) => q.id);
  announceNew(event.questions.filter((q) => q.was === null && !state.questions.has(q.id)).length);  // new, not merely not held
  const changed = [];
  for (const q of event.questions) {
    const before = state.questions.get(q.id);
    countMove(q.was, q.status);
    if (!before || before.text !== q.text || Boolean(before.open) !== Boolean(q.open)) changed.push(q.id);
    state.questions.set(q.id, q);
  }
  refreshSoon(ids);
  if (changed.length) requestInsights(changed);
}));
live.socket.on("votes_changed", (event) => {
  const ids = [];
  const missing = [];
  for (const [id, votes] of Object.entries(event.votes)) {
    const q = state.questions.get(Number(id));
    if (q) { q.votes = votes; ids.push(q.id); } else if (climbed(Number(id), votes)) missing.push(Number(id));
  }
  if (ids.length) refreshSoon(ids);
  // a long broadcast: one the desk does not hold climbed into the part of Approved it shows
  if (missing.length) fetchSoon(missing, refreshSoon);
});
$("incoming-new").addEventListener("click", () => board.toTop("incoming"));
