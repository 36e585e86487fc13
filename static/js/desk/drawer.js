// The tools drawer: its tabs, backstage messages and the countdown, the phone caller's form, the settings, and the new-question chime.
import { fmt, h, time } from "../dom.js";
import { $, data, prefs, savePrefs, state, t } from "./state.js";
import { send } from "./server.js";

const tabs = [...document.querySelectorAll(".tabs [role=tab]")];
// The drawer starts folded (the selected question gets the room); a tab opens its panel, and
// the open tab folds it again.
export function openTab(id, { toggle = false } = {}) {
  for (const tab of tabs) {
    const on = tab.id === id && !(toggle && tab.getAttribute("aria-expanded") === "true");
    tab.setAttribute("aria-selected", String(tab.id === id));
    tab.setAttribute("aria-expanded", String(on));
    tab.tabIndex = tab.id === id ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !on;
  }
}

function applyMute() {
  $("mute").setAttribute("aria-pressed", String(!!prefs.muted));
  $("mute").textContent = prefs.muted ? t.sound_off : t.sound_on;
}

let audio = null;
function chime() {
  if (prefs.muted) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch { /* no audio device: the badge still counts */ }
}

const baseTitle = document.title;
let unseen = 0;
let lastChime = 0;
export function announceNew(count) {
  if (!count) return;
  if (performance.now() - lastChime > 2000) { lastChime = performance.now(); chime(); }  // a flood is one chime, not a siren
  if (document.hidden || !document.hasFocus()) {
    unseen += count;
    document.title = `(${unseen}) ${baseTitle}`;
  }
  document.documentElement.dataset.unseen = String(unseen);
}
function clearBadge() { unseen = 0; document.title = baseTitle; document.documentElement.dataset.unseen = "0"; }

export function renderBackstage(backstage) {
  if (!backstage) return;
  const m = backstage.message;
  $("b-status").textContent = m ? `${fmt(t.sent_at, { time: time(m.sent_at, data.locale) })}: "${m.text}" · ${
    m.read_at ? fmt(t.read_at, { time: time(m.read_at, data.locale) }) : t.not_read}` : "";
  $("b-status").dataset.read = m && m.read_at ? "yes" : "no";
  $("countdown-status").textContent = backstage.countdown_until
    ? fmt(t.countdown_until, { time: time(backstage.countdown_until, data.locale) }) : "";
}

export function applySettings(settings) {
  state.settings = settings;
  for (const input of $("settings").querySelectorAll("input[type=checkbox]")) input.checked = !!settings[input.name];
  $("settings-fields").disabled = false;  // the boxes show the live state now: they may take clicks
  const cleared = Boolean(settings.overlay_cleared);
  $("overlay-toggle").textContent = cleared ? t.overlay_show : t.overlay_clear;
  $("overlay-toggle").setAttribute("aria-pressed", String(cleared));
  $("overlay-toggle").classList.toggle("danger", cleared);
  $("overlay-state").textContent = cleared ? t.overlay_cleared : "";
}

// While the caller's form is in use, the tools take the room it needs ("Add question" in view at 1366x768);
// the selected question's panel gets it back when the focus leaves them. The drawer grows only after the
// click that brought the focus in, so nothing moves under the pointer between its press and its release.
function wireRoom() {
  const drawer = $("drawer");
  const side = drawer.closest(".side");
  let pressing = false;
  const sync = () => side.classList.toggle("tools-open", !$("phone-panel").hidden && drawer.contains(document.activeElement));
  drawer.addEventListener("pointerdown", () => { pressing = true; });
  document.addEventListener("pointerup", () => { if (pressing) { pressing = false; setTimeout(sync, 0); } }, true);
  drawer.addEventListener("focusin", () => { if (!pressing) sync(); });
  drawer.addEventListener("focusout", () => setTimeout(sync, 0));
  return sync;
}

export function wireDrawer() {
  const room = wireRoom();
  for (const tab of tabs) {
    tab.addEventListener("click", () => { openTab(tab.id, { toggle: true }); setTimeout(room, 0); });
    tab.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      e.preventDefault();
      const next = tabs[(tabs.indexOf(tab) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      openTab(next.id);
      next.focus();
    });
  }

  $("mute").addEventListener("click", () => { prefs.muted = !prefs.muted; savePrefs(); applyMute(); });
  applyMute();
  window.addEventListener("focus", clearBadge);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) clearBadge(); });
  $("backstage-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const ack = await send("send_backstage", { text: $("b-text").value });
    if (ack.ok) $("b-text").value = "";
  });
  for (const button of document.querySelectorAll("[data-quick]")) {
    button.addEventListener("click", () => send("send_backstage", { text: button.dataset.quick }));
  }
  for (const button of document.querySelectorAll("[data-seconds]")) {
    button.addEventListener("click", () => send("set_countdown", { seconds: Number(button.dataset.seconds) }));
  }

  $("settings").addEventListener("change", (e) => send("update_settings", { settings: { [e.target.name]: e.target.checked } }));
  $("overlay-toggle").addEventListener("click", () => send("update_settings", { settings: { overlay_cleared: !state.settings.overlay_cleared } }));

  // The phone form's client_id stays the same while what it holds is unchanged: a second click on "Add question"
  // (or a retry after an error) is the same question to the server, not a second one. Each submission in flight
  // notes the fields edited since it was sent; its answer clears only the others (the next caller's typing stays,
  // even a district or a consent the same as the last caller's).
  const form = $("phone-form");
  const newId = () => (crypto.randomUUID ? crypto.randomUUID().replaceAll("-", "") : String(Date.now()) + Math.random().toString(16).slice(2));
  let draftId = null;
  const inFlight = new Set();
  const edited = (e) => {
    draftId = null;
    for (const sent of inFlight) sent.touched.add(e.target.name);
  };
  // The fields the server names in a refusal are marked, each with its message under it (the toast says
  // "correct the highlighted fields"), and the first takes the focus; a field's mark goes when it is edited.
  const unmark = (field) => {
    if (!field || !field.name) return;
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-describedby");
    const note = document.getElementById(`p-${field.name}-error`);
    if (note) note.remove();
  };
  const mark = (errors) => {
    for (const field of form.elements) unmark(field);
    let first = null;
    const other = [];
    for (const [name, message] of Object.entries(errors || {})) {
      const field = form.elements[name];
      if (!(field instanceof HTMLElement) || field.type === "submit") { other.push(message); continue; }
      const id = `p-${name}-error`;
      field.setAttribute("aria-invalid", "true");
      field.setAttribute("aria-describedby", id);
      field.closest(".field").append(h("span", { class: "error", id }, message));
      first = first || field;
    }
    $("phone-status").textContent = other.join(" ");
    if (first) first.focus();
  };
  form.addEventListener("input", (e) => { edited(e); unmark(e.target); });
  form.addEventListener("change", (e) => { edited(e); unmark(e.target); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const payload = Object.fromEntries(["text", "author_name", "district", "contact"].map((k) => [k, form.elements[k].value]));
    payload.consent = form.elements.consent.checked;
    payload.show_name = form.elements.show_name.checked;
    draftId = draftId || newId();
    payload.client_id = draftId;
    const sent = { touched: new Set() };
    inFlight.add(sent);
    const ack = await send("add_phone_question", payload).finally(() => inFlight.delete(sent));
    if (!ack.ok && ack.error.fields) mark(ack.error.fields);
    if (ack.ok) {
      mark({});
      // clear what was sent, not what the moderator has typed since for the next caller
      for (const field of form.elements) {
        if (!(field.name in payload) || sent.touched.has(field.name)) continue;
        if (field.type === "checkbox") {
          if (field.checked === payload[field.name]) field.checked = field.defaultChecked;
        } else if (field.value === payload[field.name]) {
          field.value = field.defaultValue;
        }
      }
      if (draftId === payload.client_id) draftId = null;
      $("phone-status").textContent = fmt(t.added, { code: ack.question.tracking_code });
    }
  });
}
