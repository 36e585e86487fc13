// Likely duplicates and suggested categories, from the server: the selected question's similar ones, the groups list, a group's filter.
import { fmt, h } from "../dom.js";
import { $, filter, forgetGroupCounts, groupMembers, partial, state, t } from "./state.js";
import { ask, send } from "./server.js";
import { guarded, settle } from "./guard.js";
import { board } from "./board.js";
import { hub } from "./hub.js";
import { takeNewer } from "./pages.js";

export async function loadSimilar(id) {
  const q = state.questions.get(id);
  if (!q || !q.open) { state.similar.delete(id); renderSimilar(q); return; }
  const cached = state.similar.get(id);
  if (cached && cached.version === q.version) { renderSimilar(q); return; }
  const ack = await ask("similar_questions", { id });
  if (!ack.ok) return;
  // the similar questions themselves: a long broadcast's desk may not hold them
  const brought = (ack.questions || []).filter(takeNewer).map((x) => x.id);
  if (brought.length) board.update(state.questions, brought);
  state.similar.set(id, { version: q.version, items: ack.similar });
  if (state.selected === id) renderSimilar(state.questions.get(id));
}

export function renderSimilar(q) {
  const items = (q && state.similar.get(q.id)?.items || []).map((item) => ({ item, x: state.questions.get(item.id) }))
    .filter(({ x }) => x && x.open);
  $("insp-similar").hidden = !items.length;
  $("similar-list").replaceChildren(...items.map(({ item, x }) => h("li", { dataset: { id: x.id } },
    h("button", { type: "button", class: "link", onclick: () => hub.select(x.id) }, `#${x.id}`), " ",
    h("span", { class: "score" }, fmt(t.similar_score, { score: `${Math.round(item.score * 100)}%` })), " ",
    h("span", { class: `badge st-${x.status}` }, t.status[x.status]), " ", h("span", { class: "text" }, x.text.slice(0, 160)), " ",
    q.actions.includes("merge") ? h("button", { type: "button", class: "button tiny", dataset: { mergeInto: x.id },
      onclick: async () => {
        if (guarded()) return;
        const ack = await send("merge_question", { id: q.id, version: q.version, target_id: x.id });
        if (ack.ok) { hub.select(x.id); settle(); }
      } }, t.merge_here) : null)));
}

let insightTimer = null;
export function requestInsights(ids) {
  for (const id of ids) state.known.delete(id);
  clearTimeout(insightTimer);
  insightTimer = setTimeout(loadInsights, 400);  // a burst of arrivals becomes one request
}

async function loadInsights() {
  // after a snapshot: the whole desk in one request (a long broadcast's: the questions the desk holds)
  const all = state.known.size === 0 && !partial();
  const ids = [...state.questions.values()].filter((q) => q.open && !state.known.has(q.id)).map((q) => q.id);
  if (!ids.length) return;
  for (const id of ids) state.known.add(id);
  const ack = await ask("desk_insights", all ? { all: true } : { ids: ids.slice(0, 5000) }, 60000);
  if (!ack.ok) { for (const id of ids) state.known.delete(id); return; }
  const touched = new Set(ids);
  forgetGroupCounts();
  for (const id of ids) { state.groups.delete(id); state.suggestions.delete(id); }
  for (const [id, group] of Object.entries(ack.groups)) {
    state.groups.set(Number(id), group);
    // a group is named by its first question, which the server reported as no group while it was alone
    if (!state.groups.has(group) && state.questions.get(group)?.open) { state.groups.set(group, group); touched.add(group); }
    for (const [other, g] of state.groups) if (g === group) touched.add(other);  // their group grew
  }
  for (const [id, category] of Object.entries(ack.suggestions)) state.suggestions.set(Number(id), category);
  board.update(state.questions, [...touched].filter((id) => state.questions.has(id)));
  renderGroups();
  if (touched.has(state.selected)) hub.renderInspector();
}

function renderGroups() {
  const sizes = new Map();
  for (const [id, g] of state.groups) {
    const q = state.questions.get(id);
    if (q && q.open) sizes.set(g, (sizes.get(g) || 0) + 1);
  }
  const groups = [...sizes].filter(([, n]) => n > 1).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  $("groups-count").textContent = String(groups.length);
  $("groups-list").replaceChildren(...groups.slice(0, 30).map(([g, n]) => {
    const first = groupMembers(g).sort((a, b) => a.id - b.id)[0];
    return h("li", {}, h("button", { type: "button", class: "link group-link", dataset: { group: g }, onclick: () => showGroup(g) },
      h("b", {}, `${n}`), " · ", (first?.text || "").slice(0, 80)));
  }));
}

function showGroup(group) {
  $("groups").open = false;
  filter.group = group;
  $("f-group").hidden = false;
  $("f-group").textContent = fmt(t.group_filter, { id: group });
  hub.refresh();
  const members = groupMembers(group).sort((a, b) => b.votes - a.votes || a.id - b.id);
  // the target: the member furthest along (on air, queued, approved), else the most voted
  const rank = { on_air: 0, queued: 1, approved: 2, answered: 3, deferred: 4, pending: 5 };
  members.sort((a, b) => rank[a.status] - rank[b.status] || b.votes - a.votes || a.id - b.id);
  if (members[0]) hub.select(members[0].id);
}
