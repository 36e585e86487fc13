// The audience's public feed for read-only screens (overlay, present view): questions, votes, settings.
import { connectLive } from "./live.js";

/**
 * Follow broadcast `slug` on the viewer namespace. `onChange(state)` runs after every change;
 * state = {questions: Map(id -> public question), settings, onAir()}.
 */
export function followFeed(slug, onChange, onStatus) {
  const state = {
    questions: new Map(),
    settings: {},
    onAir() { for (const q of this.questions.values()) if (q.status === "on_air") return q; return null; },
  };
  const apply = (list) => {
    for (const q of list) { if (q.visible) state.questions.set(q.id, q); else state.questions.delete(q.id); }
  };
  const live = connectLive({
    namespace: "/", slug, onStatus,
    onSnapshot(snapshot) {
      state.settings = snapshot.settings;
      state.questions.clear();
      apply(snapshot.questions);
      onChange(state);
    },
  });
  live.socket.on("feed_changed", live.versioned((event) => {
    if (event.settings) { live.resync(); return; }
    apply(event.questions);
    onChange(state);
  }));
  live.socket.on("votes_changed", (event) => {
    for (const [id, votes] of Object.entries(event.votes)) {
      const q = state.questions.get(Number(id));
      if (q) q.votes = votes;
    }
    onChange(state);
  });
  return live;
}

/** "Aigerim Serikovna" -> "Aigerim": screens on the stream show a first name only. */
export function firstName(name) {
  return (name || "").trim().split(/\s+/)[0] || "";
}
