"""Token healing's start: which tokens may come next while the held-back text is written again."""

from __future__ import annotations

from hearth.model.lead import Lead, Vocabulary, start_grammar

PIECES = [b"", b"ca", b"cache", b"c", b"cat", b" ", b"    ", b"   return", b"\n", b"\n    ", b"x", b"\n  "]


def tokens(ids: list[int]) -> set[bytes]:
    return {PIECES[i] for i in ids}


def test_the_next_token_must_write_the_held_back_text_or_a_start_of_it():
    vocabulary = Vocabulary(PIECES)
    # "cat" writes "ca" and goes on; "x" and the blanks do not write it.
    assert tokens(vocabulary.allowed(Lead(b"ca"))) == {b"ca", b"cache", b"c", b"cat"}
    assert tokens(vocabulary.allowed(Lead(b"\n    "))) == {b"\n    ", b"\n", b"\n  "}
    # Then code: a token that writes the lead and goes on with a blank does not start code.
    assert tokens(vocabulary.allowed(Lead(b" ", then_code=True))) == {b" "}
    assert tokens(vocabulary.allowed(Lead(b"", then_code=True))) == {b"ca", b"cache", b"c", b"cat", b"x"}
    assert b"" not in tokens(vocabulary.allowed(Lead(b"", then_code=True)))  # the end of text is no code
    assert Lead(b"").done and not Lead(b"", then_code=True).done


def test_a_lead_is_written_token_by_token():
    lead = Lead(b"\n    ", then_code=True)
    lead = lead.after(b"\n  ")
    assert lead == Lead(b"  ", then_code=True)
    assert lead.after(b"  ").then_code and not lead.after(b"  ").remaining  # code must still follow
    assert lead.after(b"  return").done  # the token wrote the rest and code after it
    assert Lead(b"ca").after(b"cache").done


def test_an_engine_gets_the_same_start_as_a_grammar():
    assert start_grammar("\n    ") == 'root ::= "\\n    " [^ \\t\\r\\n] [^\\x00]*\n'
