// The confirmation dialog: a modal with the safe choice (Cancel) focused, so a stray Enter changes nothing.
import { h } from "../dom.js";
import { $, t } from "./state.js";
import { restoreFocus } from "./board.js";

export function confirmChoice({ title, text, note, choices }) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text || "";
  $("confirm-note").textContent = note || "";
  const buttons = choices.map((c) => h("button", { type: "submit", value: c.value, class: `button ${c.kind || ""}` }, c.label));
  buttons.push(h("button", { type: "submit", value: "", class: "button cancel" }, t.cancel));
  $("confirm-buttons").replaceChildren(...buttons);
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => { resolve(dialog.returnValue || null); restoreFocus(); }, { once: true });
    dialog.showModal();
    buttons.at(-1).focus();  // Cancel
  });
}
