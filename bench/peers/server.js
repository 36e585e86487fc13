// The baseline peer for bench/run.py: a minimal Node.js socket.io server with the events the
// benchmark drives on Companion (viewers on "/", a moderator on "/staff"), without a database.
//   node bench/peers/server.js <port>
// Viewers: connect with auth {slug}; "submit_question" {text, client_id} -> ack {ok, question}
// (idempotent by client_id, kept in memory); "vote" {question_id} -> ack; vote counts are
// coalesced into "votes_changed" at most 4 times a second, as Companion does.
// Moderator (/staff): "send_to_air" {id} -> "feed_changed" to every viewer, "prompter_changed" to /staff;
// every new question -> "desk_changed" to /staff. The events themselves are in desk.js.
const http = require("http");
const { Server } = require("socket.io");
const { attachEvents } = require("./desk");

const port = Number(process.argv[2] || 5100);
const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") { res.writeHead(200, { "content-type": "application/json" }); res.end('{"status":"ok"}'); return; }
  res.writeHead(404); res.end();
});
const io = new Server(httpServer, { cors: { origin: false }, maxHttpBufferSize: 65536, perMessageDeflate: false });
attachEvents(io);

httpServer.listen(port, "127.0.0.1", () => console.log(`peer listening on ${port}`));
