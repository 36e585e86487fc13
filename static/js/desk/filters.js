// The filter bar and the incoming column's order: search, category, language, district, a group of duplicates.
import { h } from "../dom.js";
import { $, filter, prefs, savePrefs, state, t } from "./state.js";
import { refresh } from "./render.js";

export function fillCategoryFilter() {
  const select_ = $("f-category");
  const current = select_.value;
  select_.replaceChildren(select_.options[0], ...state.categories.map((c) => h("option", { value: c.id }, c.name)));
  select_.value = current;
}

function applyOrderButton() {
  $("incoming-order").textContent = prefs.oldestFirst ? t.oldest_first : t.newest_first;
  $("incoming-order").setAttribute("aria-pressed", String(!prefs.oldestFirst));
}

export function wireFilters() {
  $("filters").addEventListener("input", (e) => {
    const { name, value } = e.target;
    if (!(name in filter)) return;
    filter[name] = ["text", "district"].includes(name) ? value.trim().toLowerCase() : value;
    refresh();
  });
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  $("incoming-order").addEventListener("click", () => { prefs.oldestFirst = !prefs.oldestFirst; savePrefs(); applyOrderButton(); refresh(); });
  applyOrderButton();
  $("f-group").addEventListener("click", () => { filter.group = null; $("f-group").hidden = true; refresh(); });
}
