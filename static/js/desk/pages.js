// A long broadcast a page at a time: the snapshot holds each column's first cards; "show more" at a
// column's end asks the server for the cards after the last one held (desk_page). A column shows its cards
// only up to where its pages reach, so no gap opens in it (Incoming holds both of its ends).
import { filtering, prefs, state } from "./state.js";
import { ask } from "./server.js";

const ORDER = { incoming: () => (prefs.oldestFirst === true ? "oldest" : "newest"), approved: () => "votes",
  queue: () => "position", onair: () => "id", done: () => "newest" };
const cursorOf = (name) => state.pages[name]?.[ORDER[name]?.()] ?? null;

/** The server holds more of this column, in the desk's order, than the desk does. */
export const hasMore = (name) => cursorOf(name) !== null;

/** The card is within the part of its column the desk's pages reach (a search shows every card held). */
export function reached(q) {
  const c = cursorOf(q.column);
  if (c === null || filtering()) return true;
  switch (ORDER[q.column]()) {
    case "newest": return q.id >= c[0];
    case "oldest": return q.id <= c[0];
    case "votes": return q.votes > c[0] || (q.votes === c[0] && q.id <= c[1]);
    case "position": return (q.position || 0) < c[0] || ((q.position || 0) === c[0] && q.id <= c[1]);
    default: return q.id <= c[0];
  }
}

/** Put a question the server sent on the desk, unless the desk holds a newer copy of it. */
export function takeNewer(q) {
  const mine = state.questions.get(q.id);
  if (mine && mine.version >= q.version) return false;
  state.questions.set(q.id, q);
  return true;
}

const loading = new Set();
/** Load the next page of this column in the desk's order; true when it brought cards. */
export async function loadPage(name) {
  const order = ORDER[name]();
  const cursor = cursorOf(name);
  if (cursor === null || loading.has(name)) return false;
  loading.add(name);
  try {
    const ack = await ask("desk_page", { column: name, order, cursor }, 30000);
    if (!ack.ok) return false;
    state.pages[name][order] = ack.cursor;
    // read to its end from its start: the desk holds the whole column, in every order
    if (ack.cursor === null) for (const other of Object.keys(state.pages[name])) state.pages[name][other] = null;
    for (const q of ack.questions) takeNewer(q);
    return true;
  } finally { loading.delete(name); }
}

/** Votes reorder Approved (most voted first): a question the desk does not hold, with these votes, now
 * belongs in the part of that column the desk's pages reach. */
export function climbed(id, votes) {
  const c = state.pages.approved?.votes ?? null;
  return c !== null && (votes > c[0] || (votes === c[0] && id <= c[1]));
}

const wanted = new Set();
let waiting = null;
/** Fetch these questions from the server, a second's worth in one request (votes arrive several times a
 * second, and every request counts against the connection's allowance); `then(ids)`: those now held. */
export function fetchSoon(ids, then) {
  for (const id of ids) wanted.add(id);
  if (waiting || !wanted.size) return;
  waiting = setTimeout(async () => {
    const batch = [...wanted].slice(0, 300);
    for (const id of batch) wanted.delete(id);
    const ack = await ask("desk_questions", { ids: batch });
    waiting = null;
    if (ack.ok) {
      const held = ack.questions.filter(takeNewer).map((q) => q.id);
      if (held.length) then(held);
    }
    fetchSoon([], then);
  }, 1000);
}
