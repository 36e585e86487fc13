// The toast: a short message at the foot of the desk, with Undo when the step can be undone.
import { $ } from "./state.js";

export function toast(message, undo = null) {
  $("toast-text").textContent = message;
  $("toast-undo").hidden = !undo;
  $("toast-undo").onclick = undo ? () => { $("toast").hidden = true; undo(); } : null;
  $("toast").hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { $("toast").hidden = true; }, undo ? 10000 : 6000);
}
