// Small DOM helpers. User text only ever goes in through textContent (never innerHTML).

/** Create an element: h("p", {class: "x", onclick: fn}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** The JSON the server rendered into <script type="application/json" id="page-data">. */
export function pageData() {
  return JSON.parse(document.getElementById("page-data").textContent);
}

/** Fill "{name}" placeholders in a translated string. */
export function fmt(template, values = {}) {
  return template.replace(/\{(\w+)\}/g, (m, k) => (k in values ? String(values[k]) : m));
}

/** Pick the form of a count label for `n` ({one, few, many, other} from the server) and fill "{n}". */
export function plural(forms, n, values = {}) {
  const lang = document.documentElement.lang || undefined;
  const category = cached(`plural ${lang}`, () => new Intl.PluralRules(lang)).select(n);
  const template = forms[category] ?? forms.other ?? forms.many ?? Object.values(forms)[0];
  return fmt(template, { n: cached(`number ${lang}`, () => new Intl.NumberFormat(lang)).format(n), ...values });
}

// Intl objects are costly to make (a desk drawing a card made three): one per locale and kind, made once.
const formatters = new Map();
function cached(key, make) {
  let value = formatters.get(key);
  if (value === undefined) { value = make(); formatters.set(key, value); }
  return value;
}

/** Format a calendar date ("2026-12-24") as people read it, per locale: "24 декабря". */
export function day(iso, locale) {
  if (!iso) return "";
  const [y, m, d] = iso.split("-").map(Number);
  if (!(y && m && d)) return "";
  return cached(`day ${locale}`, () => new Intl.DateTimeFormat(locale, { day: "numeric", month: "long" })).format(new Date(y, m - 1, d));
}

/** Format an ISO timestamp as local time, per locale ("14:05"). */
export function time(iso, locale) {
  if (!iso) return "";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  return cached(`time ${locale}`, () => new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" })).format(at);
}
