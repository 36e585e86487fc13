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

They also know each client's rooms. python-socketio forgets a leaving client by looking for it
in every room of the namespace, and every client has a room of its own: one departure costs a
pass over all the others, and a whole audience leaving (the broadcast ends, the network drops)
costs the square of its size, with the loop blocked: 8.8 s for 10,000 viewers here, 0.8 s for
3,000. With the index a departure costs its own few rooms.

A slice goes to the Engine.IO server in one call when it offers `send_packet_to_many` (the
eventlet transport in `serve` does: it frames the message once and writes it to each viewer's
socket, with no per-recipient lookups through python-socketio and python-engineio), and one
recipient at a time otherwise.
"""
from __future__ import annotations

import socketio
from engineio import packet as eio_packet
from socketio import packet

# Recipients between two yields: 500 cost 25-40 ms of the loop here (their packets and writer
# wake-ups). Smaller slices spread one broadcast over more turns of the loop, and the writer then
# commits smaller batches in between: at 100 a slice, one broadcast to 2,000 viewers took 330 ms
# to send and the teleprompter's median went from 15-20 to 43-45 ms.
SLICE = 500


class SlicedFanOut(socketio.Manager):
    """The in-process manager (one process): a room's recipients in slices; each client's rooms indexed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rooms_of: dict[tuple[str, str], set] = {}  # (namespace, sid) -> the rooms it is in

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kwargs):
        """python-socketio's, with an event to one room and no callback handed to the transport a
        slice at a time when it can take one (otherwise python-socketio's, sliced by
        `get_participants`)."""
        room = to or room
        members = self.rooms.get(namespace, {}).get(room) if isinstance(room, str) else None
        send_many = getattr(self.server.eio, "send_packet_to_many", None)
        if send_many is None or callback or skip_sid is not None or members is None:
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=[event] + args).encode()
        if not isinstance(encoded, str):  # binary attachments: several packets per recipient
            return super().emit(event, data, namespace, room=room)
        pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        recipients = list(members._fwdm.values())  # the room's Engine.IO sessions, in the room's order
        for start in range(0, len(recipients), SLICE):
            if start:
                self.server.sleep(0)
            send_many(recipients[start:start + SLICE], pkt)

    def get_participants(self, namespace, room):
        for n, participant in enumerate(super().get_participants(namespace, room)):
            if n and n % SLICE == 0:  # a slice sent, and more to send
                self.server.sleep(0)
            yield participant

    # Every way into and out of a room goes through these two (connecting, join_room, leave_room,
    # close_room, disconnecting), so the index follows `self.rooms` exactly.
    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        rooms = self.rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self.rooms_of[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs):
        """python-socketio's, with the client's rooms taken from the index instead of a search of all."""
        for room in list(self.rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if sid in pending.get(namespace, ()):
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    def get_rooms(self, sid, namespace):
        return [room for room in self.rooms_of.get((namespace, sid), ()) if room is not None]


class SlicedRedisFanOut(socketio.RedisManager, SlicedFanOut):
    """The Redis message queue manager (several processes): each process sends its own share in slices."""


def client_manager(url: str | None, channel: str):
    """The manager for this configuration: in-process, or through the Redis message queue."""
    if not url:
        return SlicedFanOut()
    if not url.startswith(("redis://", "rediss://")):
        raise ValueError("COMPANION_MESSAGE_QUEUE must be a redis:// or rediss:// URL")
    return SlicedRedisFanOut(url, channel=channel)
