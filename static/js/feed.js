// The audience's public feed (the viewer page, the overlay, the present view): questions, votes, settings.
import { connectLive } from "./live.js";

/** Take absolute vote counts ({id: n}) for the questions a screen holds. */
export function applyVotes(questions, votes) {
  for (const [id, n] of Object.entries(votes || {})) {
    const q = questions.get(Number(id));
    if (q) q.votes = n;
  }
}

/** Take questions from a snapshot or an event: a visible one is kept (or replaced), a hidden one leaves. */
export function applyQuestions(questions, list) {
  for (const q of list) { if (q.visible) questions.set(q.id, q); else questions.delete(q.id); }
}

/**
 * Follow broadcast `slug` on the viewer namespace. `onChange(state)` runs after every change;
 * state = {questions: Map(id -> public question), settings, onAir()}. `onSnapshot(snapshot)`, if given,
 * runs first on each snapshot (the viewer page takes its own questions and votes from it).
 * Returns the connection (connectLive's) with the state as `feed`.
 */
export function followFeed(slug, onChange, onStatus, onSnapshot) {
  const state = {
    questions: new Map(),
    settings: {},
    onAir() { for (const q of this.questions.values()) if (q.status === "on_air") return q; return null; },
  };
  const apply = (list) => applyQuestions(state.questions, list);
  const live = connectLive({
    namespace: "/", slug, onStatus, resumable: true,
    onSnapshot(snapshot) {
      state.settings = snapshot.settings;
      if (snapshot.unchanged) applyVotes(state.questions, snapshot.votes);
      else { state.questions.clear(); apply(snapshot.questions); }
      if (onSnapshot) onSnapshot(snapshot);
      onChange(state);
    },
  });
  live.socket.on("feed_changed", live.versioned((event) => {
    if (event.settings) { live.resync(); return; }
    apply(event.questions);
    onChange(state);
  }));
  live.socket.on("votes_changed", (event) => {
    applyVotes(state.questions, event.votes);
    onChange(state);
  });
  live.feed = state;
  return live;
}

/** "Aigerim Serikovna" -> "Aigerim": screens on the stream show a first name only. */
export function firstName(name) {
  return (name || "").trim().split(/\s+/)[0] || "";
}
