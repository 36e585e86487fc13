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
