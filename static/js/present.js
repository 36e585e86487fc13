// The projector / stream view: join instructions, the question on air, the top questions, counters.
import { h, pageData, plural } from "./dom.js";
import { firstName, followFeed } from "./feed.js";
import { showConnection } from "./live.js";

const data = pageData();
const t = data.t;
const $ = (id) => document.getElementById(id);
const TOP = 5;

function who(q) {
  return [firstName(q.author_name), q.district].filter(Boolean).join(" · ");
}

function update(state) {
  const q = state.onAir();
  $("p-now").hidden = !q;
  $("p-idle").hidden = !!q;
  $("p-now-text").textContent = q ? q.text : "";
  $("p-now-meta").textContent = q ? who(q) : "";
  const waiting = [...state.questions.values()].filter((x) => x.status !== "on_air" && x.status !== "answered");
  const top = waiting.sort((a, b) => b.votes - a.votes || a.id - b.id).slice(0, TOP);
  $("p-top").replaceChildren(...(top.length ? top.map((x) => h("li", {},
    h("span", { class: "p-votes", "aria-label": plural(t.votes, x.votes) }, `▲ ${x.votes}`),
    h("span", { class: "p-text" }, x.text))) : [h("li", { class: "empty" }, t.none)]));
  const all = [...state.questions.values()];
  const number = (n) => n.toLocaleString(document.documentElement.lang || undefined);
  $("c-questions").textContent = number(all.length);
  $("c-votes").textContent = number(all.reduce((n, x) => n + x.votes, 0));
  $("c-answered").textContent = number(all.filter((x) => x.status === "answered").length);
  $("p-closed").hidden = state.settings.accepting_questions !== false;
}

followFeed(data.slug, update, showConnection($("conn"), t));
