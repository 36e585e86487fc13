// The peers' desk: what the benchmark's events do, without a database or a transport. Each call
// returns the acknowledgement and the payloads to broadcast; server.js and server-uws.js send them
// through socket.io, server-ws.js through its own minimal Socket.IO framing. One copy of the rules,
// so the three peers differ only in how they send.
class Desk {
  constructor() {
    this.questions = new Map();   // id -> question
    this.byClient = new Map();    // client_id -> id
    this.pendingVotes = new Map();
    this.version = 0;
    this.publicVersion = 0;
    this.nextId = 1;
  }

  static publicQuestion(q) {
    return { id: q.id, visible: true, text: q.text, status: q.status, votes: q.votes, asker_count: 1, author_name: "", district: "" };
  }

  // "submit_question" {text, client_id} -> {ack, desk}: idempotent by client_id
  submit(data) {
    if (!data || typeof data.text !== "string" || !data.text.trim()) return { ack: { ok: false, error: { code: "invalid" } } };
    const existing = this.byClient.get(data.client_id);
    if (existing) return { ack: { ok: true, created: false, question: this.questions.get(existing) } };
    const q = { id: this.nextId++, text: data.text, status: "pending", votes: 0, client_id: data.client_id };
    q.tracking_code = `SRK-2026-${String(q.id).padStart(6, "0")}`;
    this.questions.set(q.id, q);
    this.byClient.set(data.client_id, q.id);
    this.version += 1;
    return { ack: { ok: true, created: true, question: q },
      desk: { version: this.version, event: "question_submitted", settings: null, questions: [q] } };
  }

  // "vote" {question_id} -> ack; the counts go out coalesced (takeVotes)
  vote(data) {
    const q = data && this.questions.get(data.question_id);
    if (!q) return { ok: false, error: { code: "not_found" } };
    q.votes += 1;
    this.pendingVotes.set(q.id, q.votes);
    return { ok: true, id: q.id, votes: q.votes };
  }

  // "approve" {id} -> ack
  approve(data) {
    const q = data && this.questions.get(data.id);
    if (q) q.status = "approved";
    this.version += 1;
    return { ok: Boolean(q), version: this.version };
  }

  // "send_to_air" {id} -> {ack, desk, feed, prompter}: the question on air, the one before deferred
  sendToAir(data) {
    const q = data && this.questions.get(data.id);
    if (!q) return { ack: { ok: false, error: { code: "not_found" } } };
    const changed = [];
    for (const other of this.questions.values()) {
      if (other.status === "on_air" && other.id !== q.id) { other.status = "deferred"; changed.push(other); }
    }
    q.status = "on_air";
    q.aired_at = new Date().toISOString();
    changed.push(q);
    this.version += 1;
    this.publicVersion += 1;
    return {
      ack: { ok: true, version: this.version },
      desk: { version: this.version, event: "question_sent_to_air", settings: null, questions: changed },
      feed: { version: this.publicVersion, event: "question_sent_to_air", settings: null, questions: changed.map(Desk.publicQuestion) },
      prompter: { version: this.version, server_now: new Date().toISOString(),
        on_air: { id: q.id, text: q.text, author_name: "", district: "", votes: q.votes, asker_count: 1, language: "kk", aired_at: q.aired_at },
        next: [] },
    };
  }

  // the votes since the last call, as "votes_changed" sends them (at most 4 times a second), or null
  takeVotes() {
    if (!this.pendingVotes.size) return null;
    const votes = Object.fromEntries(this.pendingVotes);
    this.pendingVotes.clear();
    return { votes };
  }
}

// The events of the socket.io peers (Node's http server or uWebSockets.js underneath): viewers on "/",
// the moderator and the teleprompter on "/staff".
function attachEvents(io) {
  const desk = new Desk();
  const staff = io.of("/staff");
  io.of("/").on("connection", (socket) => {
    socket.join("pub:demo");
    socket.on("submit_question", (data, ack) => {
      if (typeof ack !== "function") return;
      const result = desk.submit(data);
      if (result.desk) staff.to("mod:demo").emit("desk_changed", result.desk);
      ack(result.ack);
    });
    socket.on("vote", (data, ack) => {
      const result = desk.vote(data);
      if (typeof ack === "function") ack(result);
    });
  });
  staff.on("connection", (socket) => {
    socket.join("mod:demo");
    socket.join("prompter:demo");
    socket.on("approve", (data, ack) => {
      const result = desk.approve(data);
      if (typeof ack === "function") ack(result);
    });
    socket.on("send_to_air", (data, ack) => {
      const result = desk.sendToAir(data);
      if (result.feed) {
        staff.to("mod:demo").emit("desk_changed", result.desk);
        io.of("/").to("pub:demo").emit("feed_changed", result.feed);
        staff.to("prompter:demo").emit("prompter_changed", result.prompter);
      }
      if (typeof ack === "function") ack(result.ack);
    });
  });
  setInterval(() => {
    const votes = desk.takeVotes();
    if (votes) io.of("/").to("pub:demo").emit("votes_changed", votes);
  }, 250);
}

module.exports = { Desk, attachEvents };
