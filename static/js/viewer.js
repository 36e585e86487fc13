// The viewer page: ask (with an offline outbox), see what is on air, upvote, follow my questions.
import { followFeed } from "./feed.js";
import { request, showConnection } from "./live.js";
import { fmt, h, pageData, plural } from "./dom.js";

const data = pageData();
const t = data.t;
const OUTBOX_KEY = `companion:outbox:${data.slug}`;
const $ = (id) => document.getElementById(id);
const form = $("ask-form");
const fields = ["text", "author_name", "district", "contact"];
const inputs = { text: $("q-text"), author_name: $("q-name"), district: $("q-district"), contact: $("q-contact"), consent: $("q-consent"), show_name: $("q-show-name") };
const errorIds = { text: "q-text-error", author_name: "q-name-error", district: "q-district-error", contact: "q-contact-error", consent: "q-consent-error" };

const state = { questions: new Map(), mine: new Map(), voted: new Set(), settings: {}, sort: "popular" };
const inflight = new Set();
let draftId = null;

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function loadOutbox() {
  try { return JSON.parse(localStorage.getItem(OUTBOX_KEY)) || []; } catch { return []; }
}
function saveOutbox(items) { localStorage.setItem(OUTBOX_KEY, JSON.stringify(items)); }
function removeFromOutbox(clientId) { saveOutbox(loadOutbox().filter((i) => i.client_id !== clientId)); }

// The appeal's own address: its number and the access code only its asker holds.
// A page opened with ?lang= (a QR code, a studio link) keeps that language on the appeal's pages too, as
// their own forms and redirects do (web/public.py _chosen_lang).
const chosenLang = new URLSearchParams(location.search).get("lang");
function trackUrl(q, page = "") {
  const url = `/track/${encodeURIComponent(q.tracking_code)}/${encodeURIComponent(q.access_code)}${page}`;
  return chosenLang === data.locale ? `${url}?lang=${encodeURIComponent(chosenLang)}` : url;
}

function setStatus(text, kind = "", question = null) {
  const el = $("form-status");
  el.textContent = text;
  el.dataset.kind = kind;
  if (question) el.append(" ", h("a", { href: trackUrl(question, "/talon"), class: "receipt-link" }, t.receipt));
}

function clearErrors() {
  for (const [name, id] of Object.entries(errorIds)) {
    $(id).textContent = "";
    inputs[name].removeAttribute("aria-invalid");
  }
}

function showErrors(errors) {
  let first = null;
  for (const [name, message] of Object.entries(errors || {})) {
    if (!errorIds[name]) continue;
    $(errorIds[name]).textContent = message;
    inputs[name].setAttribute("aria-invalid", "true");
    first = first || inputs[name];
  }
  if (first) first.focus();
}

function readForm() {
  // the page's language is the appeal's language (the law's "language of the appeal")
  const item = { client_id: draftId, consent: inputs.consent.checked, show_name: inputs.show_name.checked, language: data.locale };
  for (const f of fields) item[f] = inputs[f].value.trim();
  return item;
}

function fillForm(item) {
  for (const f of fields) inputs[f].value = item[f] || "";
  inputs.consent.checked = !!item.consent;
  inputs.show_name.checked = !!item.show_name;
  updateCounter();
  updateKind();
}

function validate(item) {
  const errors = {};
  if (!item.text) errors.text = t.empty;
  else if (item.text.length > data.maxLength) errors.text = t.too_long;
  if ((item.contact || item.author_name) && !item.consent) errors.consent = t.consent;  // a name is personal data too
  if (!item.author_name && state.settings.anonymous_allowed === false) errors.author_name = t.name_required;
  return errors;
}

// Which the question will be, said before sending: the server decides (services/appeals.is_statutory:
// a name and a contact make an appeal); this only mirrors it so the resident knows while typing.
function updateKind() {
  const appeal = Boolean(inputs.author_name.value.trim() && inputs.contact.value.trim());
  $("q-kind-appeal").hidden = !appeal;
  $("q-kind-question").hidden = appeal;
}

function updateCounter() {
  const left = data.maxLength - inputs.text.value.length;
  $("q-text-count").textContent = left < 200 ? fmt(t.chars_left, { n: left }) : "";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  clearErrors();
  draftId = draftId || newClientId();
  const item = readForm();
  const errors = validate(item);
  if (Object.keys(errors).length) { showErrors(errors); return; }
  const outbox = loadOutbox().filter((i) => i.client_id !== item.client_id);
  outbox.push({ ...item, queued_at: new Date().toISOString() });
  saveOutbox(outbox);  // saved before sending: a reload or a lost network loses nothing
  if (live.socket.connected) {
    setStatus(t.sending, "busy");
    $("q-submit").disabled = true;
  } else {
    settleDraft(t.queued_offline, "offline");
  }
  renderMine();
  flush();
});
inputs.text.addEventListener("input", updateCounter);
inputs.author_name.addEventListener("input", updateKind);
inputs.contact.addEventListener("input", updateKind);

function settleDraft(message, kind, question = null) {
  form.reset();
  draftId = null;
  $("q-submit").disabled = false;
  setStatus(message, kind, question);
  updateCounter();
  updateKind();
}

async function send(item) {
  inflight.add(item.client_id);
  const ack = await request(live.socket, "submit_question", item);
  inflight.delete(item.client_id);
  const isDraft = item.client_id === draftId;
  if (ack.ok) {
    removeFromOutbox(item.client_id);
    state.mine.set(ack.question.id, ack.question);
    const code = ack.question.tracking_code;
    if (isDraft) settleDraft(fmt(t.received, { code }), "ok", ack.question);
    else setStatus(fmt(t.received, { code }), "ok", ack.question);
  } else if (ack.error.code === "timeout" || ack.error.retryable) {
    // Not stored (no answer, or the server said "try again"): it stays in the outbox and is resent.
    if (isDraft) settleDraft(t.error, "offline");
    setTimeout(flush, 3000);
  } else {
    // Refused for good (bad input, questions closed): give the text back so nothing typed is lost.
    removeFromOutbox(item.client_id);
    if (!isDraft) { fillForm(item); draftId = item.client_id; }
    $("q-submit").disabled = false;
    setStatus(ack.error.message, "error");
    showErrors(ack.error.fields);
  }
  renderMine();
}

function flush() {
  if (!live.socket.connected) return;
  for (const item of loadOutbox()) {
    if (!inflight.has(item.client_id)) send(item);
  }
}

/** The status in this page's language (a live update carries the key; its label is in the sender's language). */
function statusLabel(q) {
  const label = t.statuses[q.status_key] || q.status_label;
  if (q.merged_into_code) return `${label} (${fmt(t.merged_into, { code: q.merged_into_code })})`;
  return label;
}

function renderMine() {
  const list = $("mine");
  const known = new Set([...state.mine.values()].map((q) => q.client_id));
  const pending = loadOutbox().filter((i) => !known.has(i.client_id));
  const items = [
    ...pending.map((i) => h("li", { class: "mine-item pending" }, h("p", { class: "text" }, i.text),
      h("p", { class: "meta" }, t.waiting_send))),
    ...[...state.mine.values()].sort((a, b) => b.id - a.id).map((q) => h("li", { class: `mine-item ${q.status}`, dataset: { id: q.id } },
      h("p", { class: "text" }, q.text),
      h("p", { class: "meta" }, h("a", { class: "code", href: trackUrl(q) }, q.tracking_code), " · ",
        h("span", { class: "status" }, statusLabel(q))))),
  ];
  list.replaceChildren(...items);
  $("mine-section").hidden = items.length === 0;
}

function applySettings(settings) {
  state.settings = settings;
  $("closed-note").hidden = settings.accepting_questions;
  $("q-submit").disabled = !settings.accepting_questions;
  $("name-optional").hidden = !settings.anonymous_allowed;
  $("feed-section").hidden = !settings.public_feed;
}

function meta(q) {
  const parts = [q.author_name, q.district].filter(Boolean);
  if (q.asker_count > 1) parts.push(plural(t.asked_by, q.asker_count));
  return parts.join(" · ");
}

function voteButton(q) {
  const voted = state.voted.has(q.id);
  const open = q.votable !== false;  // the server says whether it may still be voted on
  return h("button", {
    type: "button", class: "vote", "aria-pressed": voted ? "true" : "false", disabled: !open,
    "aria-label": `${voted ? t.voted : t.vote}: ${plural(t.votes, q.votes)}`,
    onclick: () => vote(q, !voted),
  }, h("span", { "aria-hidden": "true" }, "▲"), h("span", { class: "count" }, q.votes));
}

async function vote(q, up) {
  const ack = await request(live.socket, "vote", { question_id: q.id, up });
  if (!ack.ok) return;
  if (up) state.voted.add(q.id); else state.voted.delete(q.id);
  const current = state.questions.get(q.id);
  if (current) current.votes = ack.votes;
  renderFeed();
}

function renderFeed() {
  const all = [...state.questions.values()];
  const onAir = all.find((q) => q.status === "on_air");
  $("on-air").hidden = !onAir;
  if (onAir) {
    $("on-air-text").textContent = onAir.text;
    $("on-air-meta").textContent = meta(onAir);
  }
  const byPopular = (a, b) => b.votes - a.votes || a.id - b.id;
  const byRecent = (a, b) => b.id - a.id;
  const rank = (q) => (q.status === "answered" ? 1 : 0);
  const list = all.filter((q) => q.status !== "on_air")
    .sort((a, b) => rank(a) - rank(b) || (state.sort === "popular" ? byPopular(a, b) : byRecent(a, b)));
  $("feed").replaceChildren(...list.map((q) => h("li", { class: `feed-item ${q.status}`, dataset: { id: q.id } },
    voteButton(q),
    h("div", { class: "body" }, h("p", { class: "text" }, q.text), h("p", { class: "meta" }, meta(q))))));
  $("feed-empty").hidden = list.length > 0 || !!onAir;
}

for (const button of document.querySelectorAll("[data-sort]")) {
  button.addEventListener("click", () => {
    state.sort = button.dataset.sort;
    for (const b of document.querySelectorAll("[data-sort]")) b.setAttribute("aria-pressed", String(b === button));
    renderFeed();
  });
}

const connection = showConnection($("conn"), t);
const live = followFeed(data.slug, renderFeed, (status) => {
  connection(status);
  if (status !== "online" && loadOutbox().length) setStatus(t.queued_offline, "offline");
}, (snapshot) => {
  applySettings(snapshot.settings);
  state.mine = new Map(snapshot.mine.map((q) => [q.id, q]));
  state.voted = new Set(snapshot.voted);
  renderMine();
  flush();
});
state.questions = live.feed.questions;  // the feed's own: the votes and the ordering read it
live.socket.on("my_question_changed", (q) => {
  state.mine.set(q.id, q);
  renderMine();
});
window.addEventListener("online", flush);
renderMine();
updateCounter();
