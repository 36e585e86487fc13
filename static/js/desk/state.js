// The desk's shared state: the page's data, the questions and what the server said about them, the moderator's preferences, the filters.
import { pageData } from "../dom.js";

export const data = pageData();
export const t = data.t;
export const $ = (id) => document.getElementById(id);
export const state = {
  questions: new Map(), settings: {}, categories: [], selected: null,
  mode: null,            // {id, kind: "edit" | "reject" | "merge", version}
  groups: new Map(),     // id -> id of its group's first question (likely duplicates)
  suggestions: new Map(),  // id -> suggested category id
  similar: new Map(),    // id -> {version, items: [{id, score}]}
  known: new Set(),      // ids the server has told us insights for (at their version)
  // A long broadcast arrives in pages: each column's first cards, every status's count, and where each
  // column's order continues ({column: {order: cursor or null}}; null: the desk holds that end whole).
  counts: {}, columns: {}, pages: {},
};
export const prefs = JSON.parse(localStorage.getItem("companion:moderate") || "{}");
export const savePrefs = () => localStorage.setItem("companion:moderate", JSON.stringify(prefs));

// --- filters: search, category, language, district, a group of duplicates (on the loaded desk) ---
export const filter = { text: "", category: "", language: "", district: "", group: null };
export const filtering = () => Boolean(filter.text || filter.category || filter.language || filter.district || filter.group);

export function matches(q) {
  if (filter.group !== null && state.groups.get(q.id) !== filter.group && q.id !== filter.group) return false;
  if (filter.category && String(q.category_id) !== filter.category) return false;
  if (filter.language && q.language !== filter.language) return false;
  if (filter.district && !(q.district || "").toLowerCase().includes(filter.district)) return false;
  if (filter.text) {
    const hay = `#${q.id} ${q.text} ${q.author_name} ${q.tracking_code} ${q.district}`.toLowerCase();
    if (!hay.includes(filter.text)) return false;
  }
  return true;
}

export function groupMembers(group) {
  const out = [];
  for (const [id, g] of state.groups) {
    const q = state.questions.get(id);
    if (g === group && q && q.open) out.push(q);
  }
  return out;
}
// open questions per group, counted once per change of the desk (cards ask for it one by one)
let groupCounts = null;
export function groupSize(q) {
  if (!state.groups.has(q.id)) return 0;
  if (groupCounts === null) {
    groupCounts = new Map();
    for (const [id, g] of state.groups) {
      const x = state.questions.get(id);
      if (x && x.open) groupCounts.set(g, (groupCounts.get(g) || 0) + 1);
    }
  }
  return groupCounts.get(state.groups.get(q.id)) || 0;
}
export const categoryName = (id) => state.categories.find((c) => c.id === id)?.name || "";
// questions merged into each question, counted once per change of the desk
let mergedInto = null;
export function mergedHere(id) {
  if (mergedInto === null) {
    mergedInto = new Map();
    for (const x of state.questions.values()) {
      if (x.status === "merged" && x.merged_into_id) {
        if (!mergedInto.has(x.merged_into_id)) mergedInto.set(x.merged_into_id, []);
        mergedInto.get(x.merged_into_id).push(x);
      }
    }
  }
  return mergedInto.get(id) || [];
}

/** How many questions a column holds on the server (the desk may hold only its first pages). */
export function columnTotal(name) {
  let n = 0;
  for (const [status, count] of Object.entries(state.counts)) if (state.columns[status] === name) n += count;
  return n;
}
/** The desk holds only part of the broadcast's questions (a column's pages continue on the server). */
export const partial = () => Object.values(state.pages).some((orders) => Object.values(orders).some((c) => c !== null));
/** A change's question moved between statuses (`was`: the status before; null: a new question). */
export function countMove(was, status) {
  if (was) state.counts[was] = Math.max(0, (state.counts[was] || 0) - 1);
  state.counts[status] = (state.counts[status] || 0) + 1;
}

export function onAir() {
  for (const q of state.questions.values()) if (q.status === "on_air") return q;
  return null;
}

// the counts above are kept until the desk changes: refresh forgets both, new insights the groups'
export function forgetCounts() { groupCounts = null; mergedInto = null; }
export function forgetGroupCounts() { groupCounts = null; }
