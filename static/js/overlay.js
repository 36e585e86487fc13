// The OBS/vMix overlay: the question on air as a lower third, animated in and out; or "ask your question".
import { fmt, h, pageData } from "./dom.js";
import { firstName, followFeed } from "./feed.js";

const data = pageData();
const t = data.t;
const root = document.documentElement;
root.style.setProperty("--overlay-scale", String(data.options.scale));
const third = document.getElementById("third");
let shownId = null;
let hideTimer = null;

function fill(q) {
  const who = [firstName(q.author_name), q.district].filter(Boolean).join(" · ");
  const parts = [h("p", { class: "o-label" }, t.question), h("p", { class: "o-text" }, q.text)];
  if (who) parts.push(h("p", { class: "o-meta" }, who));
  third.replaceChildren(...parts);
}

function update(state) {
  if (data.options.mode === "promises") return;  // last broadcast's promises: drawn by the server
  if (data.options.mode === "ask") {
    document.getElementById("ask").dataset.state = state.settings.accepting_questions ? "in" : "out";
    return;
  }
  // the director's emergency switch on the desk: nothing on the stream, whatever is on air
  const q = state.settings.overlay_cleared ? null : state.onAir();
  const id = q ? q.id : null;
  if (id === shownId) { if (q) fill(q); return; }  // same question (e.g. edited wording): update in place
  const wasShown = shownId !== null;
  shownId = id;
  clearTimeout(hideTimer);
  if (wasShown) third.dataset.state = "out";  // the old one slides out before the new one comes in
  if (q) hideTimer = setTimeout(() => { fill(q); third.dataset.state = "in"; }, wasShown ? 450 : 0);
}

followFeed(data.slug, update, (status) => { root.dataset.conn = status; });
document.title = fmt(t.title, { slug: data.slug });
