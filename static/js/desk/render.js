// The counters, the on-air strip and its timer, and the redraw: changes applied once per frame.
import { fmt } from "../dom.js";
import { $, columnTotal, filtering, forgetCounts, onAir, partial, state, t } from "./state.js";
import { settle } from "./guard.js";
import { board } from "./board.js";
import { actionButton } from "./actions.js";
import { renderInspector } from "./inspector.js";

function renderStrip() {
  const q = onAir();
  const id = q ? q.id : null;  // another question on air: new buttons under the pointer
  if (renderStrip.shown !== undefined && id !== renderStrip.shown) settle();
  renderStrip.shown = id;
  $("onair").dataset.state = q ? "live" : "idle";
  $("onair-idle").hidden = Boolean(q);
  $("onair-actions").replaceChildren(...(q ? ["mark_answered", "take_off_air", "defer"].filter((a) => q.actions.includes(a))
    .map((action) => actionButton(q, action)) : []));
  const next = [...state.questions.values()].filter((x) => x.status === "queued").sort((a, b) => a.position - b.position || a.id - b.id)[0];
  $("onair-next").textContent = next ? `#${next.id} · ${next.text}` : "—";
  tick();
}

function tick() {
  const q = onAir();
  if (!q || !q.aired_at) { $("onair-timer").textContent = ""; return; }
  const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(q.aired_at)) / 1000));
  $("onair-timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

/** The on-air timer counts every second. */
export function startClock() { setInterval(tick, 1000); }

const timings = [];
window.deskTimings = timings;

// Changes are applied once per frame: a burst of arrivals costs one layout, and the counters are
// redrawn once, not once per question.
const pendingIds = new Set();
let pendingFlush = false;
export function refreshSoon(ids) {
  for (const id of ids) pendingIds.add(id);
  if (pendingFlush) return;
  pendingFlush = true;
  requestAnimationFrame(flushPending);
  setTimeout(flushPending, 100);  // a hidden tab runs no frames: apply anyway
}
function flushPending() {
  if (!pendingFlush) return;
  pendingFlush = false;
  const ids = [...pendingIds];
  pendingIds.clear();
  if (ids.length) refresh(ids);
}

export function refresh(ids = null) {
  const started = performance.now();
  if (ids === null) pendingIds.clear();
  forgetCounts();
  if (ids === null) board.rebuild(state.questions); else board.update(state.questions, ids);
  // the server's counts: the desk may hold only the first pages of a long broadcast
  const paged = partial();
  let shown = 0;
  for (const name of Object.keys(board.order)) {
    shown += board.count(name);
    const count = document.querySelector(`[data-count="${name}"]`);
    if (count) count.textContent = paged && !filtering() ? columnTotal(name) : board.count(name);
  }
  $("count-waiting").textContent = state.counts.pending || 0;
  $("count-queued").textContent = state.counts.queued || 0;
  $("count-answered").textContent = state.counts.answered || 0;
  const all = Object.values(state.counts).reduce((a, b) => a + b, 0);
  $("f-shown").textContent = !filtering() ? ""
    : paged ? fmt(t.shown_loaded, { n: shown, total: state.questions.size, all }) : fmt(t.shown, { n: shown, total: state.questions.size });
  if (ids === null || ids.some((id) => state.questions.get(id)?.status === "on_air" || id === state.stripId)) renderStrip();
  state.stripId = onAir()?.id;
  if (ids === null || ids.includes(state.selected)) renderInspector();
  // for the benchmark and the browser tests: how long the last full render and the last updates took
  const took = performance.now() - started;
  document.documentElement.dataset[ids === null ? "renderMs" : "updateMs"] = took.toFixed(2);
  // one entry per question applied: each of them waited this long (the bench's per-arrival figure)
  if (ids !== null) { for (let i = 0; i < ids.length; i += 1) timings.push(took); if (timings.length > 5000) timings.splice(0, timings.length - 5000); }
}
