// The baseline peer for bench/run.py: a minimal Node.js socket.io server with the events the
// benchmark drives on Companion (viewers on "/", a moderator on "/staff"), without a database.
//   node bench/peers/server.js <port>
// Viewers: connect with auth {slug}; "submit_question" {text, client_id} -> ack {ok, question}
// (idempotent by client_id, kept in memory); "vote" {question_id} -> ack; vote counts are
// coalesced into "votes_changed" at most 4 times a second, as Companion does.
// Moderator (/staff): "send_to_air" {id} -> "feed_changed" to every viewer, "prompter_changed" to /staff;
// every new question -> "desk_changed" to /staff.
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2] || 5100);
const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") { res.writeHead(200, { "content-type": "application/json" }); res.end('{"status":"ok"}'); return; }
  res.writeHead(404); res.end();
});
const io = new Server(httpServer, { cors: { origin: false }, maxHttpBufferSize: 65536, perMessageDeflate: false });
const questions = new Map();   // id -> question
const byClient = new Map();    // client_id -> id
const pendingVotes = new Map();
let version = 0;
let publicVersion = 0;
let nextId = 1;

function publicQuestion(q) {
  return { id: q.id, visible: true, text: q.text, status: q.status, votes: q.votes, asker_count: 1, author_name: "", district: "" };
}

io.of("/").on("connection", (socket) => {
  socket.join("pub:demo");
  socket.on("submit_question", (data, ack) => {
    if (typeof ack !== "function") return;
    if (!data || typeof data.text !== "string" || !data.text.trim()) { ack({ ok: false, error: { code: "invalid" } }); return; }
    const existing = byClient.get(data.client_id);
    if (existing) { ack({ ok: true, created: false, question: questions.get(existing) }); return; }
    const q = { id: nextId++, text: data.text, status: "pending", votes: 0, client_id: data.client_id };
    q.tracking_code = `SRK-2026-${String(q.id).padStart(6, "0")}`;
    questions.set(q.id, q);
    byClient.set(data.client_id, q.id);
    version += 1;
    io.of("/staff").to("mod:demo").emit("desk_changed", { version, event: "question_submitted", settings: null, questions: [q] });
    ack({ ok: true, created: true, question: q });
  });
  socket.on("vote", (data, ack) => {
    const q = data && questions.get(data.question_id);
    if (!q) { if (typeof ack === "function") ack({ ok: false, error: { code: "not_found" } }); return; }
    q.votes += 1;
    pendingVotes.set(q.id, q.votes);
    if (typeof ack === "function") ack({ ok: true, id: q.id, votes: q.votes });
  });
});

io.of("/staff").on("connection", (socket) => {
  socket.join("mod:demo");
  socket.join("prompter:demo");
  socket.on("approve", (data, ack) => {
    const q = data && questions.get(data.id);
    if (q) q.status = "approved";
    version += 1;
    if (typeof ack === "function") ack({ ok: Boolean(q), version });
  });
  socket.on("send_to_air", (data, ack) => {
    const q = data && questions.get(data.id);
    if (!q) { if (typeof ack === "function") ack({ ok: false, error: { code: "not_found" } }); return; }
    const changed = [];
    for (const other of questions.values()) {
      if (other.status === "on_air" && other.id !== q.id) { other.status = "deferred"; changed.push(other); }
    }
    q.status = "on_air";
    q.aired_at = new Date().toISOString();
    changed.push(q);
    version += 1;
    publicVersion += 1;
    io.of("/staff").to("mod:demo").emit("desk_changed", { version, event: "question_sent_to_air", settings: null, questions: changed });
    io.of("/").to("pub:demo").emit("feed_changed", { version: publicVersion, event: "question_sent_to_air", settings: null,
      questions: changed.map(publicQuestion) });
    io.of("/staff").to("prompter:demo").emit("prompter_changed", { version, server_now: new Date().toISOString(),
      on_air: { id: q.id, text: q.text, author_name: "", district: "", votes: q.votes, asker_count: 1, language: "kk", aired_at: q.aired_at },
      next: [] });
    if (typeof ack === "function") ack({ ok: true, version });
  });
});

setInterval(() => {
  if (!pendingVotes.size) return;
  const votes = Object.fromEntries(pendingVotes);
  pendingVotes.clear();
  io.of("/").to("pub:demo").emit("votes_changed", { votes });
}, 250);

httpServer.listen(port, "127.0.0.1", () => console.log(`peer listening on ${port}`));
