// The queue's order: drag and drop, and Alt+arrows, send the whole queue's new order.
import { $, state } from "./state.js";
import { send } from "./server.js";
import { board } from "./board.js";

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

export function moveInQueue(id, step) {
  const ids = shownQueue();
  const i = ids.indexOf(id);
  const j = i + step;
  if (i < 0 || j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  send("reorder_queue", { order: queueOrder(ids) });
}

export function wireQueueDrag() {
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
}
