"""Socket.IO client managers that send a broadcast to a large room in slices, yielding to the event loop
between slices so moderators, the teleprompter and acknowledgements are not held up by the audience's
fan-out; each keeps an index of a client's rooms, so a departure costs its own rooms, not a pass over
every client. Order is kept. Why, and what it measured: docs/realtime.md, "Fan-out in slices"."""
from __future__ import annotations

import socketio
from engineio import packet as eio_packet
from socketio import packet

# Recipients between two yields: smaller slices spread a broadcast over more turns of the loop and
# made it slower end to end (docs/realtime.md, "Fan-out in slices")
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
