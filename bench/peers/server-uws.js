// The second peer for bench/run.py: socket.io 4.8 attached to uWebSockets.js (`io.attachApp`), the
// same events as server.js (desk.js), no database. uWebSockets.js itself is not on npm; the
// `uwebsockets` package republishes its binaries (one per Node ABI) and loads on this glibc.
//   node bench/peers/server-uws.js <port>
const uWS = require("uwebsockets");
const { Server } = require("socket.io");
const { attachEvents } = require("./desk");

const port = Number(process.argv[2] || 5101);
const app = uWS.App();
const io = new Server({ cors: { origin: false }, maxHttpBufferSize: 65536, perMessageDeflate: false });
io.attachApp(app);
attachEvents(io);
app.get("/healthz", (res) => { res.writeHeader("content-type", "application/json").end('{"status":"ok"}'); });
app.any("/*", (res) => { res.writeStatus("404 Not Found").end(); });

app.listen("127.0.0.1", port, (token) => {
  if (!token) { console.error(`cannot listen on ${port}`); process.exit(1); }
  console.log(`uws peer listening on ${port}`);
});
