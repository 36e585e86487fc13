"""Socket.IO client managers that send a broadcast to a large room in slices.

python-socketio sends an event to a room in one loop: each recipient's packet is queued and its
writer green thread woken, and only when the whole room is done does the event loop look at the
network again. To 2,000 viewers that is over 100 ms (to 10,000, over half a second) in which no
moderator's action, teleprompter update or question acknowledgement can be read. These managers
yield to the loop after every `SLICE` recipients, so other work runs between slices while the
broadcast still goes out whole.

Order is kept: one event reaches its recipients in the same order as before, and the audience's
events are sent one after another by one task (`emit.audience_sender`; across processes, by the
message queue's one listener per process), so no later event overtakes an earlier one at any
viewer. Rooms of `SLICE` or fewer (the staff's) go out without a yield, as before.
"""
from __future__ import annotations

import socketio

# Recipients between two yields: 500 cost 25-40 ms of the loop here (their packets and writer
# wake-ups). Smaller slices spread one broadcast over more turns of the loop, and the writer then
# commits smaller batches in between: at 100 a slice, one broadcast to 2,000 viewers took 330 ms
# to send and the teleprompter's median went from 15-20 to 43-45 ms.
SLICE = 500


class SlicedFanOut(socketio.Manager):
    """The in-process manager (one process): a room's recipients in slices."""

    def get_participants(self, namespace, room):
        for n, participant in enumerate(super().get_participants(namespace, room)):
            if n and n % SLICE == 0:  # a slice sent, and more to send
                self.server.sleep(0)
            yield participant


class SlicedRedisFanOut(socketio.RedisManager, SlicedFanOut):
    """The Redis message queue manager (several processes): each process sends its own share in slices."""


def client_manager(url: str | None, channel: str):
    """The manager for this configuration: in-process, or through the Redis message queue."""
    if not url:
        return SlicedFanOut()
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("COMPANION_MESSAGE_QUEUE must be a redis:// or rediss:// URL")
    return SlicedRedisFanOut(url, channel=channel)
