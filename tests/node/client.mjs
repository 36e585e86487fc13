// The official Node socket.io-client against the served app: a viewer and a moderator, as the
// desk's screens use them. Prints one JSON object of what it saw; tests/test_node_client.py checks it.
import { io } from "socket.io-client";

const cfg = JSON.parse(process.argv[2]);
const options = (cookie, slug = "demo") => ({
  transports: cfg.transports, upgrade: cfg.transports.length > 1, reconnection: false, forceNew: true,
  timeout: 10000, auth: { slug }, extraHeaders: cookie ? { Cookie: cookie } : {},
});
const connected = (socket) => new Promise((resolve, reject) => {
  socket.once("connect", resolve);
  socket.once("connect_error", reject);
});
const refusal = async (url, opts) => {
  const socket = io(url, opts);
  try {
    await connected(socket);
    return "connected";
  } catch (err) {
    return { message: err.message, data: err.data ?? null };
  } finally {
    socket.close();
  }
};
const until = (socket, event, test) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`no ${event} in time`)), 15000);
  socket.on(event, (data) => { if (test(data)) { clearTimeout(timer); resolve(data); } });
});
const call = (socket, event, data) => socket.timeout(15000).emitWithAck(event, data);

const out = {};
out.staffWithoutSignIn = await refusal(`${cfg.url}/staff`, options(null));
out.unknownBroadcast = await refusal(`${cfg.url}/`, options(cfg.viewerCookie, "no-such-broadcast"));

const viewer = io(`${cfg.url}/`, options(cfg.viewerCookie));
const staff = io(`${cfg.url}/staff`, options(cfg.staffCookie));
await Promise.all([connected(viewer), connected(staff)]);
const arrived = until(staff, "desk_changed", (d) => d.event === "question_submitted");
out.submitted = await call(viewer, "submit_question", { client_id: cfg.clientId, text: cfg.text });
await arrived;
const find = async () => (await call(staff, "get_snapshot", {})).questions.find((q) => q.id === out.submitted.question.id);
let question = await find();
out.approved = await call(staff, "approve", { id: question.id, version: question.version });
out.voted = await call(viewer, "vote", { question_id: question.id });
question = await find();
const onAir = until(viewer, "feed_changed", (d) => d.questions.some((q) => q.id === question.id && q.status === "on_air"));
const mine = until(viewer, "my_question_changed", (d) => d.status === "on_air");
out.sent = await call(staff, "send_to_air", { id: question.id, version: question.version, confirm: true, finish_current: "mark_answered" });
await onAir;
out.mine = await mine;
out.unknownEvent = await call(viewer, "approve", { id: question.id, version: 1 });
if (cfg.transports.length > 1 && viewer.io.engine.transport.name !== "websocket") {
  await new Promise((resolve) => viewer.io.engine.once("upgrade", resolve));
}
out.transport = viewer.io.engine.transport.name;
viewer.close();
staff.close();
console.log(JSON.stringify(out));
process.exit(0);
