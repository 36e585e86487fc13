"""The WebSocket frame layer (companion/transport/frames.py) fed bytes, with no server: RFC 6455 as
wsproto reads it, this app's limits as the bytes arrive, and the server's own frames checked byte
for byte against wsproto's encoder. The fuzz target at the end runs in CI for a bounded time."""
from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from companion.transport.frames import MAX_FRAGMENTS, Closed, Reader, encode

LIMIT = 64 * 1024


def client_frame(opcode: int, payload: bytes, final: bool = True, rsv: int = 0, masked: bool = True,
                 length: int | None = None) -> bytes:
    """A frame as a browser sends it: masked (RFC 6455, 5.3)."""
    n = len(payload) if length is None else length
    first = (0x80 if final else 0) | rsv << 4 | opcode
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = bytes((first, mask_bit | n))
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def closed_with(data: bytes, limit: int = LIMIT) -> Closed:
    with pytest.raises(Closed) as caught:
        Reader(limit).feed(data)
    return caught.value


def test_a_message_in_fragments_a_ping_and_a_close_are_read_as_rfc_6455_says():
    reader = Reader(LIMIT)
    text = '42["submit_question",{"text":"Қашан жөндейді?"}]'.encode()
    stream = client_frame(0x1, text[:9], final=False) + client_frame(0x9, b"hi") + client_frame(0x0, text[9:])
    messages, replies = reader.feed(stream)
    assert messages == [text.decode()] and replies == [bytes((0x8A, 2)) + b"hi"]
    assert closed_with(client_frame(0x8, struct.pack("!H", 1001))).code == 1001  # the client's code, echoed
    assert closed_with(client_frame(0x8, b"")).code == 1000


def test_a_message_split_anywhere_across_reads_comes_out_whole_once():
    text = ("4" + "Әә🙂x" * 300).encode()
    stream = client_frame(0x1, text[:100], final=False) + client_frame(0x0, text[100:])
    for cut in range(1, len(stream), 97):
        reader = Reader(LIMIT)
        first, _ = reader.feed(stream[:cut])
        second, _ = reader.feed(stream[cut:])
        assert first + second == [text.decode()]


def test_an_empty_continuation_flood_is_refused_in_linear_time():
    """Issue 19, item 1: 60,000 empty non-final continuation frames (360 KB) were re-summed on every
    frame and never reached the size limit. Now the message is refused at the 65th fragment."""
    flood = client_frame(0x1, b"4", final=False) + client_frame(0x0, b"", final=False) * 60_000
    started = time.perf_counter()
    closed = closed_with(flood)
    assert closed.code == 1009 and "fragments" in closed.reason
    assert time.perf_counter() - started < 0.5
    fine = client_frame(0x1, b"4", final=False) + client_frame(0x0, b"x", final=False) * (MAX_FRAGMENTS - 2) \
        + client_frame(0x0, b"y")
    assert Reader(LIMIT).feed(fine)[0] == ["4" + "x" * (MAX_FRAGMENTS - 2) + "y"]


def test_an_oversized_message_is_refused_when_its_header_arrives_or_as_its_bytes_do():
    header_only = client_frame(0x1, b"", length=2_000_000)[:10] + os.urandom(4)
    assert closed_with(header_only).code == 1009  # before any of the payload is sent
    reader = Reader(1000)
    reader.feed(client_frame(0x1, b"4" + b"x" * 600, final=False))
    with pytest.raises(Closed) as caught:
        reader.feed(client_frame(0x0, b"y" * 600))  # the total, not each frame, is limited
    assert caught.value.code == 1009
    assert Reader(1000).feed(client_frame(0x1, "ә".encode() * 500))[0]  # 1,000 bytes: at the limit
    assert closed_with(client_frame(0x1, "ә".encode() * 501), limit=1000).code == 1009  # counted in bytes


@pytest.mark.parametrize("stream, code", [
    (client_frame(0x1, b"42", masked=False), 1002),  # a client must mask
    (client_frame(0x1, b"42", rsv=4), 1002),  # no extension was agreed
    (client_frame(0x3, b"42"), 1002),  # a reserved opcode
    (client_frame(0x0, b"42"), 1002),  # a continuation of nothing
    (client_frame(0x1, b"4", final=False) + client_frame(0x1, b"2"), 1002),  # a message inside a message
    (client_frame(0x9, b"x" * 126), 1002),  # a control frame over 125 bytes
    (client_frame(0x9, b"x", final=False), 1002),  # a fragmented control frame
    (client_frame(0x1, b"4\xff\xfe"), 1007),  # not UTF-8
    (client_frame(0x2, b"\x04binary"), 1003),  # binary: this app accepts only text
    (client_frame(0x9, b"") * 65, 1008),  # a ping flood in one read
])
def test_frames_a_client_may_not_send_close_with_the_matching_code(stream, code):
    assert closed_with(stream).code == code


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(opcode=st.sampled_from([0x1, 0x2, 0x8, 0x9, 0xA]),
       size=st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70000]), seed=st.binary(min_size=1, max_size=8))
def test_the_servers_frames_are_byte_for_byte_what_wsproto_makes(opcode, size, seed):
    """The server's encoder is the one hand-written part: differential against wsproto's."""
    payload = (seed * (size // len(seed) + 1))[:size]
    if opcode & 0x8:
        payload = payload[:125]
    proto = Connection(ConnectionType.SERVER)._proto
    if opcode == 0x1:
        text = payload.decode("latin-1")
        theirs = proto.send_data(text, True)
        payload = text.encode()
    elif opcode == 0x2:
        theirs = proto.send_data(payload, True)
    elif opcode == 0x9:
        theirs = proto.ping(payload)
    elif opcode == 0xA:
        theirs = proto.pong(payload)
    else:
        code = 1000 + size % 3 if size else None
        theirs = proto.close(code)
        payload = struct.pack("!H", code) if code else b""
    assert encode(opcode, payload) == bytes(theirs)
    # and a client (wsproto's) reads them back
    client = Connection(ConnectionType.CLIENT)
    client.receive_data(encode(opcode, payload))
    (event,) = list(client.events())
    expected = {0x1: TextMessage, 0x2: BytesMessage, 0x8: CloseConnection, 0x9: Ping, 0xA: type(event)}[opcode]
    assert isinstance(event, expected)


# The fuzz target: streams of frames, well-formed or broken, cut into reads at random points.
frames = st.tuples(st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xF]), st.booleans(),
                   st.sampled_from([0, 0, 0, 1, 4]),
                   st.one_of(st.text(max_size=40).map(str.encode), st.binary(max_size=300)), st.booleans())


@settings(max_examples=int(os.environ.get("COMPANION_FUZZ_EXAMPLES", "400")), deadline=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(frames, max_size=30), st.lists(st.integers(min_value=1, max_value=400), max_size=10),
       st.integers(min_value=16, max_value=LIMIT))
def test_fuzz_any_stream_gives_whole_messages_or_a_close_never_an_error(spec, cuts, limit):
    stream = b"".join(client_frame(op, payload, final, rsv, masked) for op, final, rsv, payload, masked in spec)
    whole_reader = Reader(limit)
    try:
        whole = whole_reader.feed(stream)[0]
        whole_code = None
    except Closed as closed:
        whole, whole_code = None, closed.code
    assert whole_code in (None, 1000, 1001, 1002, 1003, 1007, 1008, 1009) or 1000 <= whole_code < 5000
    # the same bytes in reads of any size: the same messages, or a close with the same code
    reader, got, code, at = Reader(limit), [], None, 0
    started = time.perf_counter()
    try:
        for cut in cuts + [len(stream)]:
            got += reader.feed(stream[at:at + cut])[0]
            at += cut
        if at < len(stream):
            got += reader.feed(stream[at:])[0]
    except Closed as closed:
        code = closed.code
    assert time.perf_counter() - started < 0.2 + len(stream) / 1e6  # linear: well under a µs a byte
    if whole_code is None:
        assert code is None and got == whole
        assert all(len(m.encode()) <= limit for m in got)
    else:
        assert code is not None
