"""What a serving process holds while it runs, in one object in `app.extensions` (not in module
globals): the audience outbox, the group-commit writer's queue and the votes waiting to be
coalesced. Each is None or empty until its background task starts (`serve`): tests, the CLI and
the channels process emit and store at once, in the caller's own transaction."""
from __future__ import annotations

import queue
from dataclasses import dataclass, field

from flask import Flask, current_app


@dataclass
class Runtime:
    audience: queue.Queue | None = None     # events for the viewers, sent in order by `emit.audience_sender`
    writer: queue.Queue | None = None       # viewers' questions and votes for `writer.group_committer`
    coalescing_votes: bool = False          # `emit.vote_flusher` runs: vote counts wait for it
    pending_votes: dict = field(default_factory=dict)  # slug -> {question id: count}


def runtime(app: Flask | None = None) -> Runtime:
    """This app's runtime state (made on first use)."""
    extensions = (app or current_app).extensions
    state = extensions.get("companion.runtime")
    if state is None:
        state = extensions["companion.runtime"] = Runtime()
    return state
