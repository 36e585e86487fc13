"""The client managers send a broadcast to a large room in slices, yielding to the loop between them.

A real python-socketio server (threading mode) with our manager; its participants are registered
through the manager's own API. The test watches what the server sends and when the manager
yields, through the server's two seams (`_send_eio_packet`, `sleep`).
"""
from __future__ import annotations

import socketio

from companion.realtime import fanout

from .test_production import redis_url  # noqa: F401 (fixture: Redis must run in CI)


def audience(manager, n: int, room: str = "pub:demo") -> tuple[socketio.Server, list, list[str]]:
    """A server with `n` viewers in `room`; returns it, the log of sends and yields, and the eio sids."""
    server = socketio.Server(async_mode="threading", client_manager=manager)
    log: list = []
    server._send_eio_packet = lambda eio_sid, pkt: log.append(("send", eio_sid, pkt.data))
    server.sleep = lambda seconds=0: log.append(("yield", seconds))
    eio_sids = [f"eio{i:05d}" for i in range(n)]
    for eio_sid in eio_sids:
        sid = manager.pre_connect(eio_sid, "/")
        manager.connect(eio_sid, "/")
        manager.enter_room(sid, "/", room, eio_sid=eio_sid)
    return server, log, eio_sids


def check_sliced(manager, n: int) -> None:
    server, log, eio_sids = audience(manager, n)
    server.emit("feed_changed", {"version": 7}, to="pub:demo")
    sends = [entry for entry in log if entry[0] == "send"]
    assert [eio_sid for _, eio_sid, _ in sends] == eio_sids  # each viewer once, in the room's order
    assert {data for _, _, data in sends} == {'2["feed_changed",{"version":7}]'}  # encoded once, same packet
    # a yield to the loop after every full slice that has more to follow, and only there
    yields = [i for i, entry in enumerate(log) if entry[0] == "yield"]
    assert yields == [k * (fanout.SLICE + 1) - 1 for k in range(1, (n - 1) // fanout.SLICE + 1)]
    assert all(entry == ("yield", 0) for entry in log if entry[0] == "yield")


def test_a_broadcast_to_a_large_room_yields_between_slices():
    check_sliced(fanout.SlicedFanOut(), 2 * fanout.SLICE + 37)


def test_a_server_that_sends_to_many_gets_each_slice_in_one_call():
    """The eventlet transport offers `send_packet_to_many`: the room goes to it slice by slice, in
    the room's order, as one packet, with the same yields between slices and no per-recipient send."""
    server, log, eio_sids = audience(fanout.SlicedFanOut(), 2 * fanout.SLICE + 37)
    server.eio.send_packet_to_many = lambda sids, pkt: log.append(("many", list(sids), pkt))
    server.emit("feed_changed", {"version": 8}, to="pub:demo")
    assert [entry[0] for entry in log] == ["many", "yield", "many", "yield", "many"]
    slices = [entry[1] for entry in log if entry[0] == "many"]
    assert [len(s) for s in slices] == [fanout.SLICE, fanout.SLICE, 37] and sum(slices, []) == eio_sids
    packets = {id(entry[2]) for entry in log if entry[0] == "many"}
    assert len(packets) == 1 and log[0][2].data == '2["feed_changed",{"version":8}]'
    log.clear()
    server.emit("feed_changed", b"\x01\x02", to="pub:demo")  # binary: python-socketio's own path
    assert not any(entry[0] == "many" for entry in log)
    assert [entry[1] for entry in log if entry[0] == "send"][::2] == eio_sids  # a packet and its attachment each


def test_a_small_room_goes_out_without_yielding():
    server, log, eio_sids = audience(fanout.SlicedFanOut(), fanout.SLICE, room="mod:demo")
    server.emit("desk_changed", {"version": 1}, to="mod:demo")
    assert [entry[1] for entry in log] == eio_sids  # all sends, no yield


def test_the_redis_manager_slices_its_own_share(redis_url):  # noqa: F811
    manager = fanout.client_manager(redis_url, "companion-test-fanout")
    assert isinstance(manager, fanout.SlicedRedisFanOut)
    check_sliced(manager, fanout.SLICE + 5)  # the local share is sent in slices before publishing


def test_only_redis_queues_are_accepted():
    assert isinstance(fanout.client_manager(None, "companion"), fanout.SlicedFanOut)
    try:
        fanout.client_manager("amqp://127.0.0.1//", "companion")
    except ValueError as exc:
        assert "redis://" in str(exc)
    else:
        raise AssertionError("a non-Redis queue URL was accepted")


def replay(manager, steps: list[tuple]) -> socketio.Server:
    """Run the same connects, joins, leaves, closes and departures on `manager`."""
    server = socketio.Server(async_mode="threading", client_manager=manager)
    sids: dict[int, str] = {}
    for op, *args in steps:
        if op == "connect":
            n, namespace = args
            sids[n] = manager.pre_connect(f"eio{n}", namespace)
            if n % 3:  # some stay pre-connected (refused or still authenticating) until they leave
                manager.connect(sids[n], namespace)
        elif op == "join":
            manager.enter_room(sids[args[0]], args[1], args[2])
        elif op == "leave":
            manager.leave_room(sids[args[0]], args[1], args[2])
        elif op == "close":
            manager.close_room(args[0], args[1])
        elif op == "callback":
            manager._generate_ack_id(sids[args[0]], lambda *a: None)
        elif op == "go":
            n, namespace = args
            manager.pre_disconnect(sids[n], namespace)
            manager.disconnect(sids[n], namespace)
    return server


def test_the_room_index_keeps_exactly_what_python_socketio_keeps():
    """Against python-socketio's own manager, step for step: a thousand random connects, joins,
    leaves, room closes and departures on two namespaces leave the same rooms, pending lists and
    acknowledgement callbacks, and each client's rooms are what the library would list."""
    import random
    rng = random.Random(7)
    steps, live = [], []
    for n in range(1000):
        roll = rng.random()
        if roll < 0.35 or not live:
            namespace = rng.choice(["/", "/staff"])
            steps.append(("connect", n, namespace))
            live.append((n, namespace))
        elif roll < 0.6:
            steps.append(("join", *rng.choice(live), rng.choice(["pub:demo", "mod:demo", f"viewer:{n % 7}"])))
        elif roll < 0.7:
            steps.append(("leave", *rng.choice(live), rng.choice(["pub:demo", f"viewer:{n % 7}"])))
        elif roll < 0.73:
            steps.append(("close", f"viewer:{n % 7}", rng.choice(["/", "/staff"])))
        elif roll < 0.8:
            steps.append(("callback", rng.choice(live)[0]))
        else:
            steps.append(("go", *live.pop(rng.randrange(len(live)))))
    plain, ours = socketio.Manager(), fanout.SlicedFanOut()
    replay(plain, steps)
    replay(ours, steps)
    assert state(ours) == state(plain)
    assert sum(len(rooms) for rooms in state(plain)["rooms"].values()) > 100  # the comparison has something to compare
    # and the index holds each client still here, and nothing of those who left
    assert set(ours.rooms_of) == {(ns, sid) for ns, rooms in ours.rooms.items() for sid in rooms[None]}


def state(manager) -> dict:
    """What a manager keeps, with each client named by its Engine.IO sid (Socket.IO sids are random)."""
    name = {sid: eio for rooms in manager.rooms.values() for sid, eio in rooms[None].items()}
    return {"rooms": {ns: {name.get(room, room): sorted(name[sid] for sid in members) for room, members in rooms.items()}
                      for ns, rooms in manager.rooms.items()},
            "pending": [{ns: sorted(name[sid] for sid in sids) for ns, sids in pending.items()}
                        for pending in (manager.pending_connect, manager.pending_disconnect)],
            "callbacks": {name[sid]: sorted(acks) for sid, acks in manager.callbacks.items()},
            "client_rooms": {(ns, name[sid]): sorted(name.get(room, room) for room in manager.get_rooms(sid, ns))
                             for ns, rooms in manager.rooms.items() for sid in rooms[None]}}


class Unsearchable(dict):
    """A namespace's rooms that refuse to be searched whole (copied, or walked)."""

    def copy(self):
        raise AssertionError("a departure searched every room of the namespace")

    def items(self):
        raise AssertionError("a departure searched every room of the namespace")


def test_a_departure_looks_only_at_the_clients_own_rooms():
    """python-socketio looks for a leaving client in every room of the namespace, and each client
    has a room of its own: a whole audience leaving cost the square of its size (10,000 viewers:
    8.8 s of a blocked loop here). Ours takes the client's rooms from its index."""
    manager = fanout.SlicedFanOut()
    server, _log, eio_sids = audience(manager, 2000)
    for i, eio_sid in enumerate(eio_sids):
        manager.enter_room(manager.sid_from_eio_sid(eio_sid, "/"), "/", f"viewer:token{i}")
    manager.rooms["/"] = Unsearchable(manager.rooms["/"])
    leaving = [manager.sid_from_eio_sid(eio_sid, "/") for eio_sid in eio_sids[:1999]]
    for sid in leaving:
        manager.pre_disconnect(sid, "/")
        manager.disconnect(sid, "/")
    last = manager.sid_from_eio_sid(eio_sids[-1], "/")
    assert dict.keys(manager.rooms["/"]) == {None, last, "pub:demo", "viewer:token1999"}
    assert list(manager.get_participants("/", "pub:demo")) == [(last, eio_sids[-1])]
    assert set(manager.rooms_of) == {("/", last)}
