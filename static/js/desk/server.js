// Talking to the server: the desk's actions (never queued while offline, errors shown) and the questions with one in flight.
import { request } from "../live.js";
import { t } from "./state.js";
import { toast } from "./toast.js";

let live = null;
/** The connection, handed over by moderate.js once it is made (connectLive). */
export function attach(connection) { live = connection; }

export const busy = new Map();  // question id -> actions in flight on it
export async function send(event, payload) {
  // an action is never queued for later: socket.io would replay it when the network returns
  if (!live.socket.connected) { toast(t.offline); return { ok: false, error: { code: "offline", message: t.offline } }; }
  const id = payload && payload.id;
  busy.set(id, (busy.get(id) || 0) + 1);
  const ack = await request(live.socket, event, payload).finally(() => {
    if (busy.get(id) > 1) busy.set(id, busy.get(id) - 1); else busy.delete(id);
  });
  if (!ack.ok) {
    toast(ack.error.message || ack.error.code);
    if (ack.error.code === "stale_version" || ack.error.code === "invalid_transition") live.resync();
  }
  return ack;
}

/** A request whose answer the caller reads itself (the forms, the insights): no toast, no resync. */
export const ask = (event, payload, timeout) => request(live.socket, event, payload, timeout);
