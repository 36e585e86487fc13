// One Socket.IO connection with versioned state: apply events in order, reload a snapshot on a gap.

/**
 * Connect to `namespace` for broadcast `slug`.
 * `snapshotEvent` names the event that returns {version, ...}; `onSnapshot(data)` replaces state.
 * `resumable`: `onSnapshot` also takes {unchanged: true, votes: {id: n}} (the viewer namespace's
 * answer to a screen that is not behind), keeping its questions and taking the counts.
 * Returns {socket, versioned(handler), resync()}. `versioned` wraps an event handler so that
 * stale events are dropped and a gap triggers a resync.
 */
export function connectLive({ namespace = "/", slug, snapshotEvent = "get_snapshot", onSnapshot, onStatus, resumable = false }) {
  // eslint-disable-next-line no-undef
  // Reconnection waits 0.1-1.9 s at first (1 s, randomised by 90 %), doubling up to 5 s: when a
  // process restarts, its thousands of viewers come back spread over two seconds, not in one instant.
  // The page's language goes with the handshake, so what the server says (errors, names) matches the
  // page even when it came from `?lang=` (a studio screen, a shared link) and not the cookie.
  const socket = io(namespace, { auth: { slug }, query: { lang: document.documentElement.lang },
                                 transports: ["websocket", "polling"], reconnectionDelay: 1000,
                                 randomizationFactor: 0.9, reconnectionDelayMax: 5000 });
  let version = -1;
  let loading = false;

  function resync() {
    if (loading) return;
    loading = true;
    // a screen that can resume says which version it holds: if nothing public changed, the server
    // answers with the vote counts only ({unchanged: true, votes}), not every question again
    socket.timeout(10000).emit(snapshotEvent, resumable && version >= 0 ? { since: version } : {}, (err, ack) => {
      loading = false;
      if (err || !ack || !ack.ok) { setTimeout(resync, 1000); return; }
      version = ack.version;
      onSnapshot(ack);
      document.documentElement.dataset.version = String(version);
    });
  }

  function versioned(handler) {
    return (data) => {
      if (loading || data.version <= version) return;  // old news, or a snapshot is on its way
      if (data.version !== version + 1) { resync(); return; }
      version = data.version;
      handler(data);
      document.documentElement.dataset.version = String(version);
    };
  }

  socket.on("connect", () => { onStatus && onStatus("online"); resync(); });
  socket.on("disconnect", (reason) => {
    onStatus && onStatus("offline");
    // The server closed this socket on purpose (e.g. after a logout): try again; the server decides.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 500 + Math.random() * 2500);
  });
  socket.on("connect_error", (err) => onStatus && onStatus("offline", err));
  return { socket, versioned, resync, get version() { return version; } };
}

/** Emit with an acknowledgement; resolves to the ack or {ok:false, error:{code:"timeout"}}. */
export function request(socket, event, data, timeout = 10000) {
  return new Promise((resolve) => {
    socket.timeout(timeout).emit(event, data, (err, ack) => {
      resolve(err ? { ok: false, error: { code: "timeout", message: "" } } : ack);
    });
  });
}

/**
 * The status handler every screen shows its connection with: element `el` gets data-state
 * "online"/"offline" and the label for it from `labels` ({online, offline}).
 */
export function showConnection(el, labels) {
  return (status) => {
    el.dataset.state = status;
    el.textContent = status === "online" ? labels.online : labels.offline;
  };
}
