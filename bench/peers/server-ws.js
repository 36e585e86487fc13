// The third peer for bench/run.py: a raw `ws` 8 broadcaster. It speaks just enough Engine.IO 4 /
// Socket.IO 5 over a WebSocket for the benchmark's clients (no polling, no binary, no rooms):
// the open packet, namespace connects to "/" and "/staff", pings, events with acknowledgements.
// The on-air fan-out encodes its `42["feed_changed",...]` text once, frames it once (one
// unmasked WebSocket text frame), and writes that same Buffer to every viewer's socket: the least
// a Node server can do per viewer. The events are desk.js's, as in the socket.io peers.
//   node bench/peers/server-ws.js <port>
const http = require("http");
const crypto = require("crypto");
const { WebSocketServer, WebSocket, Sender } = require("ws");
const { Desk } = require("./desk");

const port = Number(process.argv[2] || 5102);
const PING_INTERVAL = 25000;
const desk = new Desk();
const viewers = new Set();  // sockets connected to "/"
const staff = new Set();    // sockets connected to "/staff"

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") { res.writeHead(200, { "content-type": "application/json" }); res.end('{"status":"ok"}'); return; }
  res.writeHead(404); res.end();
});
const wss = new WebSocketServer({ server: httpServer, path: "/socket.io/", perMessageDeflate: false, maxPayload: 65536 });

function sid() {
  return crypto.randomBytes(15).toString("base64url");
}

// One event to many sockets: the text encoded and framed once, the same bytes written to each.
function broadcast(sockets, namespace, event, payload) {
  const data = Buffer.from(`42${namespace === "/" ? "" : namespace + ","}${JSON.stringify([event, payload])}`);
  const frame = Buffer.concat(Sender.frame(data, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }));
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.OPEN) ws._socket.write(frame);
  }
}

function ack(ws, namespace, id, payload) {
  ws.send(`43${namespace === "/" ? "" : namespace + ","}${id}${JSON.stringify([payload])}`);
}

const handlers = {
  "/": {
    submit_question(ws, data) {
      const result = desk.submit(data);
      if (result.desk) broadcast(staff, "/staff", "desk_changed", result.desk);
      return result.ack;
    },
    vote(ws, data) { return desk.vote(data); },
  },
  "/staff": {
    approve(ws, data) { return desk.approve(data); },
    send_to_air(ws, data) {
      const result = desk.sendToAir(data);
      if (result.feed) {
        broadcast(staff, "/staff", "desk_changed", result.desk);
        broadcast(viewers, "/", "feed_changed", result.feed);
        broadcast(staff, "/staff", "prompter_changed", result.prompter);
      }
      return result.ack;
    },
  },
};
const members = { "/": viewers, "/staff": staff };

// A Socket.IO packet in an Engine.IO message: <type>[/namespace,][ack id][JSON]
function onPacket(ws, text) {
  const type = text[0];
  let rest = text.slice(1);
  let namespace = "/";
  if (rest.startsWith("/")) {
    const comma = rest.indexOf(",");
    namespace = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? "" : rest.slice(comma + 1);
  }
  const prefix = namespace === "/" ? "" : namespace + ",";
  if (!Object.hasOwn(members, namespace)) {
    ws.send(`44${prefix}{"message":"Invalid namespace"}`);
    return;
  }
  if (type === "0") {  // CONNECT (the auth payload is not checked: the peers have no sign-in)
    members[namespace].add(ws);
    ws.namespaces.add(namespace);
    ws.send(`40${prefix}${JSON.stringify({ sid: sid() })}`);
  } else if (type === "1") {  // DISCONNECT
    members[namespace].delete(ws);
    ws.namespaces.delete(namespace);
  } else if (type === "2" && ws.namespaces.has(namespace)) {  // EVENT, perhaps with an ack id
    const bracket = rest.indexOf("[");
    if (bracket < 0) return;
    const id = bracket > 0 ? Number(rest.slice(0, bracket)) : null;
    let args;
    try { args = JSON.parse(rest.slice(bracket)); } catch { return; }
    if (!Array.isArray(args)) return;
    // own properties only: an event named "__proto__" or "constructor" is not a handler
    const handler = Object.hasOwn(handlers[namespace], args[0]) ? handlers[namespace][args[0]] : null;
    if (typeof handler !== "function") return;
    const reply = handler(ws, args[1]);
    if (id !== null && Number.isInteger(id)) ack(ws, namespace, id, reply);
  }
}

wss.on("connection", (ws) => {
  ws.namespaces = new Set();
  ws.send(`0${JSON.stringify({ sid: sid(), upgrades: [], pingInterval: PING_INTERVAL, pingTimeout: 20000, maxPayload: 1000000 })}`);
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    const text = data.toString();
    if (text === "2") ws.send("3");       // a client's ping (Engine.IO 3 style): pong
    else if (text === "3") ws.alive = true;  // the answer to our ping
    else if (text[0] === "4") onPacket(ws, text.slice(1));
    else if (text === "1") ws.close();
  });
  // a protocol error (an oversized or malformed frame) closes that connection; unheard, it would end the process
  ws.on("error", () => {});
  ws.on("close", () => { viewers.delete(ws); staff.delete(ws); });
});

// Engine.IO 4: the server pings, the client answers "3"
const PING = Buffer.concat(Sender.frame(Buffer.from("2"), { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: false }));
setInterval(() => {
  for (const ws of wss.clients) if (ws.readyState === WebSocket.OPEN) ws._socket.write(PING);
}, PING_INTERVAL);

setInterval(() => {
  const votes = desk.takeVotes();
  if (votes) broadcast(viewers, "/", "votes_changed", votes);
}, 250);

httpServer.listen(port, "127.0.0.1", () => console.log(`ws peer listening on ${port}`));
