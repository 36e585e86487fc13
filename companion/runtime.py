"""What a process holds while it runs, in one object in `app.extensions` (not in module globals): how
blocking calls are run and the SQLite logs' group commits (durability), the realtime queues, the short-lived
copies and caches of the services, and the one-at-a-time turns of the pool's work. An app per database: tests
run many in one process, each with its own. The realtime queues are None or empty until their background
task starts (`serve`): tests, the CLI and the channels process emit and store at once, in the caller's own
transaction."""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask, current_app


def call_here(function):
    """Run a blocking call at once, in this thread (the default outside eventlet and gevent)."""
    return function()


def _turn() -> threading.BoundedSemaphore:
    # made with the runtime, in the app, after the server patched threading: a green one under eventlet
    return threading.BoundedSemaphore(1)


@dataclass
class Runtime:
    # durability: how a blocking call is run (in a real thread under eventlet or gevent, set by `serve`),
    # and one group commit per SQLite file (durability.LogSync)
    run_blocking: Callable = call_here
    sqlite_logs: dict = field(default_factory=dict)
    # realtime
    audience: queue.Queue | None = None     # events for the viewers, sent in order by `emit.audience_sender`
    writer: queue.Queue | None = None       # viewers' questions and votes for `writer.group_committer`
    coalescing_votes: bool = False          # `emit.vote_flusher` runs: vote counts wait for it
    pending_votes: dict = field(default_factory=dict)  # slug -> {question id: count}
    refusal_audit: dict | None = None       # the refusals' audit budget (realtime.common)
    # the services' copies and caches
    recent: dict = field(default_factory=dict)           # services.recent: {key: (when read, value)}
    topic_rules: tuple | None = None                     # services.topics: (key, compiled rules)
    blocked_senders: dict | None = None                  # services.blocking: {"at", "keys"}
    readiness: dict = field(default_factory=dict)        # services.readiness: the last check
    similarity: dict = field(default_factory=dict)       # services.similarity: broadcast id -> Index
    last_recount: Any = None                             # services.reports: the last recount task (tests join it)
    diagnostics: dict = field(default_factory=dict)      # the server's own /healthz probes (`serve`)
    store_turns: Any = None                              # channels: each event loop's StoreTurns (weak keys)
    # one at a time in this process: a sign-in or hash, an export, an index update
    password_turn: threading.BoundedSemaphore = field(default_factory=_turn)
    export_slot: threading.BoundedSemaphore = field(default_factory=_turn)
    similarity_turn: threading.BoundedSemaphore = field(default_factory=_turn)


def runtime(app: Flask | None = None) -> Runtime:
    """This app's runtime state (made on first use)."""
    extensions = (app or current_app).extensions
    state = extensions.get("companion.runtime")
    if state is None:
        state = extensions["companion.runtime"] = Runtime()
    return state
