// A question's actions as the server allows them: the buttons, what each does (with its confirmation), merging a group of duplicates.
import { fmt, h } from "../dom.js";
import { data, groupMembers, onAir, state, t } from "./state.js";
import { send } from "./server.js";
import { guarded } from "./guard.js";
import { toast } from "./toast.js";
import { confirmChoice } from "./confirm.js";
import { restoreFocus } from "./board.js";
import { openMode } from "./modes.js";

async function sendToAir(q) {
  const payload = { id: q.id, version: q.version };
  if (q.confirm.includes("send_to_air")) {
    const ok = await confirmChoice({ title: t.confirm_unmoderated, text: q.text, note: t.confirm_unmoderated_note,
      choices: [{ value: "yes", label: t.confirm_send, kind: "danger" }] });
    if (ok !== "yes") return;
    payload.confirm = true;
  }
  const current = onAir();
  if (current && current.id !== q.id) {
    const finish = await confirmChoice({ title: t.confirm_switch, text: current.text,
      note: fmt(t.switch_next, { text: q.text.slice(0, 160) }), choices: [
      { value: "mark_answered", label: t.switch_answered, kind: "primary" },
      { value: "take_off_air", label: t.switch_requeue }, { value: "defer", label: t.switch_defer }] });
    if (!finish) return;
    payload.finish_current = finish;
    payload.current_id = current.id;  // the server refuses if another question went on air meanwhile
    const ack = await send("send_to_air", payload);
    if (ack.ok && finish === "mark_answered") {
      toast(fmt(t.was_answered, { text: current.text.slice(0, 60) }), () => {
        const now = state.questions.get(current.id);
        if (now && now.actions.includes("reopen")) send("reopen", { id: now.id, version: now.version });
      });
    }
    return;
  }
  await send("send_to_air", payload);
}

export async function act(q, action) {
  // a promise may answer any question of the broadcast: the desk offers it on every one
  if (!q.actions.includes(action) && action !== "merge_group" && action !== "accept_category" && action !== "mark_promise") return;
  if (action === "edit" || action === "merge" || action === "reject" || action === "forward_immediately"
    || action === "mark_promise") { openMode(q, action); return; }
  if (action === "unmerge") { await send("unmerge_question", { id: q.id, version: q.version }); return; }
  if (action === "follow_up") { await send("flag_follow_up", { id: q.id, version: q.version, on: !q.appeal?.follow_up }); return; }
  if (action === "send_to_air") { await sendToAir(q); return; }
  if (action === "merge_group") { await mergeGroup(q); return; }
  if (action === "accept_category") {
    const suggested = state.suggestions.get(q.id);
    if (suggested && q.category_id !== suggested && q.actions.includes("categorize")) {
      await send("categorize_question", { id: q.id, version: q.version, category_id: suggested });
    }
    return;
  }
  await send(action, { id: q.id, version: q.version });
}

export function actionButton(q, action) {
  const keys = data.keys;  // the server's one map of the desk's keys
  let label = t[action];
  if (action === "follow_up") label = q.appeal?.follow_up ? t.follow_up_off : t.follow_up;
  return h("button", { type: "button", class: `button small act-${action}`, dataset: { action },
    "aria-keyshortcuts": keys[action] || null,
    onclick: async () => {
      if (guarded()) return;
      await act(state.questions.get(q.id) || q, action);
      restoreFocus();
    } },
  label, keys[action] ? h("kbd", {}, keys[action] === "Enter" ? "↵" : keys[action]) : null);
}

export async function mergeGroup(q) {
  const group = state.groups.get(q.id);
  const members = group === undefined ? [] : groupMembers(group).filter((x) => x.id !== q.id && x.mergeable);
  if (!members.length) return;
  // a group is a guess: the moderator sees every question it would merge before it happens
  const ok = await confirmChoice({ title: fmt(t.merge_group_confirm, { n: members.length, id: q.id }), text: q.text,
    note: members.map((x) => `#${x.id}: ${x.text.slice(0, 90)}`).join("\n"),
    choices: [{ value: "yes", label: t.merge, kind: "primary" }] });
  if (ok !== "yes") return;
  const ack = await send("merge_group", { target_id: q.id, sources: members.map((x) => ({ id: x.id, version: x.version })) });
  if (ack.ok) toast(fmt(t.merged_n, { n: ack.merged }) + (ack.skipped.length ? ` · ${fmt(t.skipped_n, { n: ack.skipped.length })}` : ""));
}
