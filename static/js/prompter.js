// The speaker's teleprompter: the question on air in large type, timers, what comes next,
// mirror/flip for glass prompters, auto-scroll, clicker keys, backstage notes with read receipts.
import { connectLive, request, showConnection } from "./live.js";
import { fmt, h, pageData, plural } from "./dom.js";

const data = pageData();
const t = data.t;
const $ = (id) => document.getElementById(id);
const root = document.documentElement;
const prefs = { scale: 1, width: 60, speed: 3, ...JSON.parse(localStorage.getItem("companion:prompter") || "{}") };
let current = { version: -1, on_air: null, next: [], backstage: {} };
let clockOffset = 0;  // server time minus local time, so the timers match the server
let scrolling = false;
let dismissed = null;

function savePrefs() { localStorage.setItem("companion:prompter", JSON.stringify(prefs)); }

function applyPrefs() {
  root.style.setProperty("--prompt-scale", String(prefs.scale));
  root.style.setProperty("--prompt-width", `${prefs.width}ch`);
  $("stage").classList.toggle("mirrored", !!prefs.mirror);
  $("stage").classList.toggle("flipped", !!prefs.flip);
  $("stage").classList.toggle("guided", !!prefs.guide);
  document.body.classList.toggle("contrast", !!prefs.contrast);
  for (const key of ["mirror", "flip", "guide", "contrast"]) $(key).setAttribute("aria-pressed", String(!!prefs[key]));
  $("speed").textContent = fmt(t.speed, { n: prefs.speed });
}

function meta(q) {
  const parts = [q.author_name, q.district].filter(Boolean);
  // the speaker sees the name; saying it on air needs the asker's own consent
  if (parts.length && !q.name_on_air) parts.push(t.name_not_for_air);
  if (q.asker_count > 1) parts.push(plural(t.asked_by, q.asker_count));
  if (q.language) parts.push(t.languages[q.language] || q.language);
  return parts.join(" · ");
}

function render(state) {
  if (state.version < current.version) return;  // an older state arrived late
  const changed = (state.on_air && state.on_air.id) !== (current.on_air && current.on_air.id);
  current = state;
  clockOffset = Date.parse(state.server_now) - Date.now();
  const q = state.on_air;
  $("now-text").textContent = q ? q.text : "";
  $("now-meta").textContent = q ? meta(q) : "";
  $("idle").hidden = !!q;
  $("timer").hidden = !q;
  $("next").replaceChildren(...(state.next.length ? state.next.map((n) => h("li", {}, h("p", { class: "text" }, n.text),
    h("p", { class: "meta" }, meta(n)))) : [h("li", { class: "empty" }, t.none)]));
  if (changed) $("now").scrollTop = 0;
  showBackstage(state.backstage && state.backstage.message);
  tick();
}

function clock(seconds) {
  const s = Math.abs(seconds);
  const text = s >= 3600 ? `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`
    : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  return seconds < 0 ? `+${text}` : text;
}

function tick() {
  const now = Date.now() + clockOffset;
  const q = current.on_air;
  if (q && q.aired_at) $("timer").textContent = clock(Math.max(0, Math.floor((now - Date.parse(q.aired_at)) / 1000)));
  const b = current.backstage || {};
  $("countdown").hidden = !b.countdown_until;
  if (b.countdown_until) {
    const left = Math.ceil((Date.parse(b.countdown_until) - now) / 1000);
    $("countdown").textContent = clock(left);
    $("countdown").dataset.state = left <= 0 ? "over" : left <= 10 ? "ending" : "running";
  }
  $("total").textContent = b.started_at ? fmt(t.total, { time: clock(Math.max(0, Math.floor((now - Date.parse(b.started_at)) / 1000))) }) : "";
}
setInterval(tick, 250);

// --- backstage notes: shown until dismissed; the receipt goes back once the note is on a visible screen ---
function showBackstage(message) {
  const box = $("backstage");
  if (!message || message.id === dismissed) { box.hidden = true; return; }
  $("backstage-text").textContent = message.text;
  box.hidden = false;
  if (!message.read_at && !document.hidden) request(live.socket, "backstage_read", { id: message.id });
}
$("backstage-close").addEventListener("click", () => {
  dismissed = current.backstage && current.backstage.message ? current.backstage.message.id : null;
  $("backstage").hidden = true;
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) showBackstage(current.backstage && current.backstage.message);
  if (!document.hidden) keepAwake();
});

// --- auto-scroll for long questions, and clicker keys ---
let last = null;
function step(ts) {
  if (!scrolling) { last = null; return; }
  if (last !== null) $("now").scrollTop += (prefs.speed * 12 * (ts - last)) / 1000;
  last = ts;
  requestAnimationFrame(step);
}
function setScrolling(on) {
  scrolling = on;
  $("scroll").setAttribute("aria-pressed", String(on));
  if (on) requestAnimationFrame(step);
}
function page(direction) {
  const now = $("now");
  now.scrollBy({ top: direction * now.clientHeight * 0.8, behavior: "smooth" });
}
function blank() { $("blank").hidden = !$("blank").hidden; }

document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select")) return;
  const keys = {
    PageDown: () => page(1), ArrowDown: () => page(1), ArrowRight: () => page(1), " ": () => page(1),
    PageUp: () => page(-1), ArrowUp: () => page(-1), ArrowLeft: () => page(-1),
    b: blank, B: blank, ".": blank, s: () => setScrolling(!scrolling), f: fullscreen, Escape: () => { $("backstage-close").click(); },
  };
  if (keys[e.key]) { e.preventDefault(); keys[e.key](); }
});

// --- full screen with controls that hide, and the screen kept awake ---
function fullscreen() {
  if (document.fullscreenElement) document.exitFullscreen(); else document.documentElement.requestFullscreen?.().catch(() => {});
}
let idleTimer = null;
function wake() {
  document.body.classList.remove("ui-hidden");
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => document.body.classList.add("ui-hidden"), 3000);
}
for (const event of ["mousemove", "pointerdown", "keydown", "focusin"]) document.addEventListener(event, wake);
wake();
// the stage starts below the controls however many rows they take (kk and ru labels wrap them on a laptop, and
// the second row covered the timer)
new ResizeObserver(() => document.documentElement.style.setProperty("--controls-h", `${$("controls").offsetHeight}px`))
  .observe($("controls"));

let wakeLock = null;
async function keepAwake() {
  try {
    if ("wakeLock" in navigator && !wakeLock) {
      wakeLock = await navigator.wakeLock.request("screen");
      $("awake").hidden = false;
      wakeLock.addEventListener("release", () => { wakeLock = null; $("awake").hidden = true; });
    }
  } catch { /* not allowed (no user gesture yet, or unsupported): the OS setting decides */ }
}
keepAwake();
document.addEventListener("pointerdown", keepAwake, { once: true });

function bump(key, delta, min, max, digits = 1) {
  prefs[key] = Math.min(Math.max(+(prefs[key] + delta).toFixed(digits), min), max);
  savePrefs();
  applyPrefs();
}
$("larger").addEventListener("click", () => bump("scale", 0.1, 0.5, 3));
$("smaller").addEventListener("click", () => bump("scale", -0.1, 0.5, 3));
$("wider").addEventListener("click", () => bump("width", 5, 20, 120, 0));
$("narrower").addEventListener("click", () => bump("width", -5, 20, 120, 0));
$("faster").addEventListener("click", () => bump("speed", 1, 1, 20, 0));
$("slower").addEventListener("click", () => bump("speed", -1, 1, 20, 0));
for (const key of ["mirror", "flip", "guide", "contrast"]) {
  $(key).addEventListener("click", () => { prefs[key] = !prefs[key]; savePrefs(); applyPrefs(); });
}
$("scroll").addEventListener("click", () => setScrolling(!scrolling));
$("fullscreen").addEventListener("click", fullscreen);
$("blank").addEventListener("click", blank);
applyPrefs();

const live = connectLive({
  namespace: "/staff",
  slug: data.slug,
  snapshotEvent: "get_prompter",
  onSnapshot: (state) => { current.version = -1; render(state); },
  onStatus: showConnection($("conn"), t),
});
live.socket.on("prompter_changed", (state) => {
  render(state);
  document.documentElement.dataset.version = String(current.version);
});
