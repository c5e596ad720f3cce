import json

import pytest

from hearth.lsp.framing import Frame, FrameDecoder, FrameError, encode_frame, salvage_request_id

MSG = {"jsonrpc": "2.0", "id": 7, "method": "textDocument/hover", "params": {}}
GOOD = encode_frame(MSG)
BODY = GOOD.split(b"\r\n\r\n", 1)[1]


def frames(events):
    return [e.message for e in events if isinstance(e, Frame)]


def with_length(n, body=BODY, header=b"Content-Length"):
    return header + b": " + str(n).encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "garbled",
    [
        with_length(len(BODY) + 1),
        with_length(len(BODY) - 1),
        with_length(0),
        with_length(10**12),
        with_length(len(BODY) + 500),
        b"Content-Length: 12x\r\n\r\n" + BODY,
        b"Content-Length: \r\n\r\n" + BODY,
        b"junk without a newline",
        b"\x00\xff\xfe garbage \r\n\r\n",
        b"Content-Length: 5\r\nContent-Length",
        BODY,
    ],
    ids=[
        "plus1",
        "minus1",
        "zero",
        "huge",
        "plus500",
        "non-numeric",
        "empty",
        "junk",
        "binary",
        "half-header",
        "no-header",
    ],
)
def test_a_valid_frame_after_garbage_is_decoded(garbled):
    decoder = FrameDecoder()
    events = decoder.feed(garbled) + decoder.feed(GOOD)
    assert frames(events)[-1] == MSG
    assert decoder.buffered == 0 or not frames(decoder.feed(b""))


def test_lowercase_header_and_extra_headers_are_accepted():
    data = b"content-length: %d\r\nContent-Type: application/vscode-jsonrpc\r\n\r\n%s" % (len(BODY), BODY)
    assert frames(FrameDecoder().feed(data)) == [MSG]


def test_frames_split_across_reads_byte_by_byte():
    decoder = FrameDecoder()
    got = []
    for byte in GOOD * 3:
        got += frames(decoder.feed(bytes([byte])))
    assert got == [MSG] * 3


def test_length_counts_bytes_not_characters():
    message = {"jsonrpc": "2.0", "method": "x", "params": {"text": "é😋"}}
    assert frames(FrameDecoder().feed(encode_frame(message))) == [message]


def test_broken_request_keeps_its_id_for_an_error_reply():
    events = FrameDecoder().feed(with_length(len(BODY) - 1) + GOOD)
    errors = [e for e in events if isinstance(e, FrameError)]
    assert errors[0].request_id == 7


def test_refused_huge_body_does_not_steal_the_next_requests_id():
    events = FrameDecoder().feed(with_length(10**12, b"") + GOOD)
    assert [e.request_id for e in events if isinstance(e, FrameError)] == [None]
    assert frames(events) == [MSG]


def test_body_over_the_limit_is_refused():
    decoder = FrameDecoder(max_body_bytes=10)
    events = decoder.feed(GOOD)
    assert not frames(events)
    assert "refused" in events[0].reason


def test_a_large_body_arriving_in_chunks_is_decoded():
    message = {"jsonrpc": "2.0", "method": "didOpen", "params": {"text": "x = 1\n" * 200_000}}
    data = encode_frame(message)
    decoder = FrameDecoder()
    got = []
    for start in range(0, len(data), 65536):
        got += frames(decoder.feed(data[start : start + 65536]))
    assert got == [message]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":3,"method":"x"', 3),
        (b'{"jsonrpc":"2.0","id":"abc","method":"x"', "abc"),
        (b'{"jsonrpc":"2.0","method":"x","params":{"id":4}', 4),
        (b'{"jsonrpc":"2.0","method":"x"', None),
        (b'{"jsonrpc":"2.0","id":3,"result":null', None),
    ],
)
def test_salvage_request_id(body, expected):
    assert salvage_request_id(body) == expected


def test_encode_frame_is_valid_json_with_byte_length():
    frame = encode_frame({"a": "ü"})
    header, body = frame.split(b"\r\n\r\n")
    assert int(header.split(b":")[1]) == len(body)
    assert json.loads(body) == {"a": "ü"}
