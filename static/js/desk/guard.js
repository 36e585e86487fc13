// The moment after a redraw or a submitted form when clicks and single keys wait, so a double click or Enter never does two things.
import { $, state } from "./state.js";
import { busy } from "./server.js";

// When the selected question's actions are redrawn (its status changed), other buttons land under
// the pointer: clicks on the new buttons wait a moment, so a double click never does two things.
const GUARD_MS = 500;
let guardUntil = 0;
let guardTimer = null;
export function settle() {
  // the buttons look dimmed while they wait, and tests can tell when they are ready
  guardUntil = performance.now() + GUARD_MS;
  for (const id of ["insp-actions", "onair-actions", "similar-list"]) $(id).classList.add("settling");
  clearTimeout(guardTimer);
  guardTimer = setTimeout(() => { for (const id of ["insp-actions", "onair-actions", "similar-list"]) $(id).classList.remove("settling"); }, GUARD_MS);
}
export const guarded = () => performance.now() < guardUntil || busy.has(state.selected);
let keysWaitUntil = 0;  // set when a form is submitted (leaveMode)
export const keysWait = () => performance.now() < keysWaitUntil || busy.has(state.selected);
/** After a form is submitted (leaveMode): single keys wait a moment. */
export function holdKeys() { keysWaitUntil = performance.now() + GUARD_MS; }
