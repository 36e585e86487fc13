// The speaker's teleprompter: the question on air in large type, a timer, what comes next.
import { connectLive } from "./live.js";
import { fmt, h, pageData } from "./dom.js";

const data = pageData();
const t = data.t;
const $ = (id) => document.getElementById(id);
const prefs = JSON.parse(localStorage.getItem("companion:prompter") || "{}");
let current = { version: -1, on_air: null, next: [] };
let clockOffset = 0;  // server time minus local time, so the timer matches the server

function savePrefs() { localStorage.setItem("companion:prompter", JSON.stringify(prefs)); }

function applyPrefs() {
  document.documentElement.style.setProperty("--prompt-scale", String(prefs.scale || 1));
  $("stage").classList.toggle("mirrored", !!prefs.mirror);
  $("mirror").setAttribute("aria-pressed", String(!!prefs.mirror));
}

function meta(q) {
  const parts = [q.author_name, q.district].filter(Boolean);
  if (q.asker_count > 1) parts.push(fmt(t.asked_by, { n: q.asker_count }));
  return parts.join(" · ");
}

function render(state) {
  if (state.version < current.version) return;  // an older state arrived late
  current = state;
  clockOffset = Date.parse(state.server_now) - Date.now();
  const q = state.on_air;
  $("now-text").textContent = q ? q.text : "";
  $("now-meta").textContent = q ? meta(q) : "";
  $("idle").hidden = !!q;
  $("timer").hidden = !q;
  $("next").replaceChildren(...(state.next.length ? state.next.map((n) => h("li", {}, h("p", { class: "text" }, n.text),
    h("p", { class: "meta" }, meta(n)))) : [h("li", { class: "empty" }, t.none)]));
  tick();
}

function tick() {
  const q = current.on_air;
  if (!q || !q.aired_at) return;
  const seconds = Math.max(0, Math.floor((Date.now() + clockOffset - Date.parse(q.aired_at)) / 1000));
  $("timer").textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}
setInterval(tick, 500);

$("larger").addEventListener("click", () => { prefs.scale = Math.min((prefs.scale || 1) + 0.1, 2.5); savePrefs(); applyPrefs(); });
$("smaller").addEventListener("click", () => { prefs.scale = Math.max((prefs.scale || 1) - 0.1, 0.5); savePrefs(); applyPrefs(); });
$("mirror").addEventListener("click", () => { prefs.mirror = !prefs.mirror; savePrefs(); applyPrefs(); });
applyPrefs();

const live = connectLive({
  namespace: "/staff",
  slug: data.slug,
  snapshotEvent: "get_prompter",
  onSnapshot: (state) => { current.version = -1; render(state); },
  onStatus(status) {
    const el = $("conn");
    el.dataset.state = status;
    el.textContent = status === "online" ? t.online : t.offline;
  },
});
live.socket.on("prompter_changed", (state) => {
  render(state);
  document.documentElement.dataset.version = String(current.version);
});
