import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hearth.text.documents import Change, DocumentStore
from hearth.text.lines import LineIndex
from hearth.text.positions import UTF8, UTF16, UTF32, offset_at, position_at

TEXT = "a😋b\r\nxy\rz\n"


@pytest.mark.parametrize(
    ("line", "character", "encoding", "offset"),
    [
        (0, 0, UTF16, 0),
        (0, 1, UTF16, 1),
        (0, 2, UTF16, 1),  # inside the surrogate pair: start of the emoji
        (0, 3, UTF16, 2),
        (0, 99, UTF16, 3),  # past the end of the line: its end
        (0, 5, UTF8, 2),
        (0, 2, UTF32, 2),
        (1, 1, UTF16, 6),
        (2, 0, UTF16, 8),
        (3, 0, UTF16, 10),
        (9, 9, UTF16, 10),  # past the last line: end of document
        (-1, -5, UTF16, 0),
    ],
)
def test_offset_at(line, character, encoding, offset):
    assert offset_at(TEXT, line, character, encoding) == offset


def test_form_feed_is_not_a_line_break():
    assert offset_at("a\fb\nc", 1, 0) == 4


texts = st.text(alphabet=st.sampled_from(list("ab \t\r\n😋é\u0301\f")), max_size=40)


@given(texts, st.integers(-3, 50), st.integers(-3, 60), st.sampled_from([UTF8, UTF16, UTF32]))
def test_random_positions_never_raise_and_round_trip(text, line, character, encoding):
    offset = offset_at(text, line, character, encoding)
    assert 0 <= offset <= len(text)
    back_line, back_character = position_at(text, offset, encoding)
    if not (text[offset - 1 : offset] == "\r" and text[offset : offset + 1] == "\n"):
        assert offset_at(text, back_line, back_character, encoding) == offset


@settings(max_examples=1000, deadline=None)
@given(texts, st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40), st.text(max_size=5)), max_size=8))
def test_incremental_changes_match_a_reference_edit(text, edits):
    store = DocumentStore(UTF32)
    store.open("u", "python", 1, text)
    reference = text
    for version, (a, b, new) in enumerate(edits, start=2):
        start, end = sorted((min(a, len(reference)), min(b, len(reference))))
        sl, sc = position_at(reference, start, UTF32)
        el, ec = position_at(reference, end, UTF32)
        if offset_at(reference, sl, sc, UTF32) != start or offset_at(reference, el, ec, UTF32) != end:
            continue  # inside a \r\n pair: not addressable by an LSP position
        reference = reference[:start] + new + reference[end:]
        store.change("u", version, [Change(new, (sl, sc, el, ec))])
        assert store.get("u").text == reference


@given(
    texts,
    st.lists(
        st.tuples(
            st.integers(0, 60),
            st.integers(0, 60),
            st.sampled_from(["", "\n", "\r", "\r\n", "x", "é😋", "a\rb\nc"]),
        ),
        max_size=12,
    ),
    st.integers(0, 8),
    st.integers(0, 12),
    st.sampled_from([UTF8, UTF16, UTF32]),
)
def test_line_index_follows_edits_and_agrees_with_a_full_scan(text, edits, line, character, encoding):
    index = LineIndex(text)
    for a, b, new in edits:
        start, end = sorted((min(a, len(text)), min(b, len(text))))
        text = text[:start] + new + text[end:]
        index.edit(text, start, end, len(new))
        assert index.starts.tolist() == LineIndex(text).starts.tolist()
    assert index.offset_at(text, line, character, encoding) == offset_at(text, line, character, encoding)
    offset = min(len(text), line * 3 + character)
    if not (text[offset - 1 : offset] == "\r" and text[offset : offset + 1] == "\n"):
        # (inside a \r\n pair no position exists; both answers would be arbitrary)
        assert index.position_at(text, offset, encoding) == position_at(text, offset, encoding)
