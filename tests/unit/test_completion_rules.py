"""Golden tables for the policy, stop rules, prompt layout and post-processing."""

import pytest

from hearth.completion.policy import Cursor, decide
from hearth.completion.postprocess import (
    align_to_cursor,
    clean_suggestion,
    drop_repeated_lines,
    split_trailing_space,
    trim_suffix_overlap,
)
from hearth.completion.prompt import assemble, code_window, prefix_window
from hearth.completion.validity import keep_valid
from hearth.model.catalog import PromptFormat
from hearth.model.stopping import StopSpec, loop_cut


def at(text: str) -> Cursor:
    prefix, suffix = text.split("|")
    return Cursor(prefix, suffix)


@pytest.mark.parametrize(
    ("document", "language", "mode"),
    [
        ("def f(x):|", "python", "block"),
        ("def f(x):\n    |", "python", "block"),
        ("x = compute(|)", "python", "line"),  # a block would push the ) down
        ("x = foo(|, y)", "python", "line"),
        ("value = total|", "python", "line"),
        ("# a comment|", "python", "none"),
        ("x = '#'|", "python", "line"),
        ("print(x)|", "python", "none"),
        ("function f() {|", "javascript", "block"),
        ("// note|", "typescript", "none"),
        ("func main() {|\n}", "go", "block"),
    ],
)
def test_policy(document, language, mode):
    assert decide(at(document), language).mode == mode


def test_multiline_never_gives_single_lines():
    assert decide(at("def f(x):|"), "python", multiline="never").mode == "line"


@pytest.mark.parametrize(
    ("spec", "text", "final", "kept"),
    [
        (StopSpec(single_line=True), "abc\ndef", False, "abc"),
        (StopSpec(single_line=True), "abc", False, None),
        (StopSpec(block_indent=0), "\n    a = 1\n    return a\ndef g():", False, "\n    a = 1\n    return a"),
        (StopSpec(block_indent=0), "\n    a = 1\n    ret", False, None),
        (StopSpec(block_indent=0), "\n    a = 1\n\n    b = 2\n", True, None),
        (StopSpec(block_indent=0, closing_line_ends_block=True), "\n  x();\n}\nfoo()", False, "\n  x();\n}"),
        (StopSpec(max_lines=2), "a\nb\nc\n", False, "a\nb"),
        (StopSpec(next_line="    return total"), "\n    x += 1\n    return total\n", False, "\n    x += 1"),
        (StopSpec(stop_strings=("<|im_end|>",)), "x = 1<|im_end|>junk", False, "x = 1"),
    ],
)
def test_stop_rules(spec, text, final, kept):
    cut = spec.cut(text, final=final)
    assert (None if cut is None else text[:cut]) == kept


@pytest.mark.parametrize(
    ("text", "line_after", "expected"),
    [
        ("a, b)", ")", "a, b"),
        ("a, b):", "):", "a, b"),
        ("a, b", ")", "a, b"),
        (")", ")", ""),
        ("name", "", "name"),
    ],
)
def test_trim_suffix_overlap(text, line_after, expected):
    assert trim_suffix_overlap(text, line_after) == expected


def test_drop_repeated_lines():
    assert drop_repeated_lines("a = 1\nb = 2\nb = 2\nb = 2") == "a = 1\nb = 2"


@pytest.mark.parametrize(
    ("text", "held", "blank", "expected"),
    [
        ("    return x", "    ", True, "return x"),
        ("def g():", "    ", True, ""),
        (" 5", " ", False, "5"),
        ("5", " ", False, "5"),
        ("abc", "", False, "abc"),
    ],
)
def test_align_to_cursor(text, held, blank, expected):
    assert align_to_cursor(text, held, blank) == expected


def test_split_trailing_space():
    # On a blank line the line break is held back too: "\n" + indentation is one token to most
    # tokenizers, and SmolLM2 given a prompt ending in "\n" started lines with "#".
    assert split_trailing_space("def f():\n    ") == ("def f():", "\n    ")
    assert split_trailing_space("def f():\r\n    ") == ("def f():", "\r\n    ")
    assert split_trailing_space("x = 1   ") == ("x = 1", "   ")
    assert split_trailing_space("\n    ") == ("\n", "    ")  # nothing above: keep the break


@pytest.mark.parametrize(
    ("text", "held", "expected"),
    [
        ("\n    return 1", "\n    ", "return 1"),
        ("\n        return 1", "\n    ", "    return 1"),
        ("\nreturn 1", "\n    ", ""),  # dedented: the model ended the block
        ("  # comment on the line above", "\n    ", ""),
        ("\r\n    x()", "\r\n    ", "x()"),
    ],
)
def test_align_after_a_held_back_line_break(text, held, expected):
    assert align_to_cursor(text, held, True) == expected


@pytest.mark.parametrize(
    ("document", "raw", "shown"),
    [
        ("def f(x):|", "\n    return x * 2<|im_end|>", "\n    return x * 2"),
        ("x = foo(|)", "a, b)", "a, b"),
        ("x = foo(|)", "   \n  ", ""),
        ("value = |\nnext_line()", "next_line()", "next_line()"),
        ("x = |", "1  \n", "1"),
    ],
)
def test_clean_suggestion(document, raw, shown):
    cursor = at(document)
    decision = decide(cursor, "python")
    assert clean_suggestion(raw, cursor, decision, ("<|im_end|>",)) == shown


def test_prefix_window_start_moves_in_steps_while_typing():
    prefix = "".join(f"line {i}\n" for i in range(2000))
    first = prefix_window(prefix, 3000)
    later = prefix_window(prefix + "more typing", 3000)
    assert len(first) <= 3000 and later.startswith(first[:100])
    assert later.endswith("more typing")


def build_prompt(prefix: str, suffix: str, language_id: str, path_hint: str, fmt: PromptFormat, budget: int):
    return assemble(code_window(prefix, suffix, language_id, path_hint, fmt, budget, 0), fmt)


def test_prompt_is_stable_first_for_every_format():
    fim = PromptFormat("fim-psm", "<P>", "<S>", "<M>")
    spm = PromptFormat("fim-spm", "<P>", "<S>", "<M>")
    prefix, suffix = "import os\n\ndef f():\n    ", "\nprint(f())\n"
    plain = build_prompt(prefix, suffix, "python", "pkg/mod.py", PromptFormat(), 512)
    assert plain.text == "# Path: pkg/mod.py\n" + prefix
    assert build_prompt(prefix, suffix, "python", "m.py", fim, 512).text.endswith(suffix + "<M>")
    spm_text = build_prompt(prefix, suffix, "python", "m.py", spm, 512).text
    assert spm_text.startswith("<S>" + suffix) and spm_text.endswith(prefix + "<M>")


LOOP = "def f(v):\n    for x in v:\n"


@pytest.mark.parametrize(
    ("language", "prefix", "suggestion", "suffix", "expected"),
    [
        ("python", LOOP, "        print(x)\n    return v", "\n", ("        print(x)\n    return v", "valid")),
        ("python", LOOP, "        print(x)\n    return (v", "\n", ("        print(x)", "cut")),
        ("python", LOOP, "        print((x", "\n", ("", "dropped")),
        ("python", "print(", "x", ")\n", ("x", "valid")),
        ("javascript", "function f(a) {\n  ", "return a + ;", "\n}\n", ("", "dropped")),
        ("typescript", "function f(a: number) {\n  ", "return a + 1;", "\n}\n", ("return a + 1;", "valid")),
        ("go", "package m\nfunc f(a int) int {\n\t", "return a +", "\n}\n", ("", "dropped")),
        ("go", "package m\nfunc f(a int) int {\n\t", "return a + 1", "\n}\n", ("return a + 1", "valid")),
        ("rust", "fn f(a: i32) -> i32 {\n    ", "a + 1", "\n}\n", ("a + 1", "valid")),
        ("markdown", "# Title\n", "text ((", "", ("text ((", "unchecked")),
    ],
)  # fmt: skip
def test_validity_keeps_what_parses(language, prefix, suggestion, suffix, expected):
    assert keep_valid(language, prefix, suggestion, suffix) == expected


@pytest.mark.parametrize(
    ("document", "language", "raw", "shown"),
    [
        # special tokens never shown
        ("function f() {|\n}", "javascript", "\n  return 1;<|endoftext|>junk", "\n  return 1;"),
        ("func f() int {|\n}", "go", "\n\treturn 1<|im_end|>", "\n\treturn 1"),
        # what the line already has right of the cursor
        ("const x = foo(|);", "javascript", "a, b);", "a, b"),
        ('let s: string = "|";', "typescript", 'hello";', "hello"),
        ("x := compute(|)", "go", "a, b)", "a, b"),
        # brackets balanced against the suffix
        ("x = foo(|)", "python", "a, b))", "a, b"),
        ("const a = [f(|)];", "javascript", "1), 2)];", "1"),
        ("v := g(|)", "go", '")", 2))', '")", 2'),
        # the block's closing line is already below the cursor
        ("function f(a: number) {|\n}", "typescript", "\n  return a;\n}", "\n  return a;"),
        ("func main() {|\n}", "go", "\n\tfmt.Println(1)\n}", "\n\tfmt.Println(1)"),
        ("def f(x):|\n\nprint(f(2))", "python", "\n    return x\nprint(f(2))", "\n    return x"),
        # degenerate repetition
        ("if (x) {|\n}", "javascript", "\n  y();\n  y();\n  y();", "\n  y();"),
        ("for i := 0; i < n; i++ {|\n}", "go", "\n\tsum += i\n\tsum += i", "\n\tsum += i"),
        # nothing useful
        ("function f() {|\n}", "javascript", "   \n  ", ""),
        ("const s = |;", "typescript", ";", ""),
        ("x := |\ny := 2", "go", "\n", ""),
    ],
)
def test_post_processing_golden_table_across_languages(document, language, raw, shown):
    cursor = at(document)
    decision = decide(cursor, language)
    assert clean_suggestion(raw, cursor, decision, ("<|endoftext|>", "<|im_end|>")) == shown


@pytest.mark.parametrize(
    ("document", "suggestion", "shown", "verdict"),
    [
        ("import os\npath = |", "os.path.joinpath('a')", "", "dropped"),
        ("import os\np = os.getcwd()\n|", "x = os.path.join(p, 'a')\ny = x.uper()",
         "x = os.path.join(p, 'a')", "cut"),
        ("def f(items: list):\n    n = |", "len(items)\n    return items.lenght", "len(items)", "cut"),
        ("def f(items):\n    n = |", "items.lenght", "items.lenght", "valid"),  # unknown type: no verdict
        ("s = 'abc'\nt = |", "s.upper() + '.nope'", "s.upper() + '.nope'", "valid"),  # in a string
        ("class A:\n    def __init__(self):\n        self.count = 0\n\n    def inc(self):\n        |",
         "self.count += 1\n        return self.count", "self.count += 1\n        return self.count", "valid"),
        ("x = 1\ny = |", "x + 1", "x + 1", "unchecked"),
    ],
)  # fmt: skip
def test_python_members_jedi_knows_do_not_exist_end_the_suggestion(document, suggestion, shown, verdict):
    from hearth.completion.members import cut_unknown_members

    prefix, suffix = document.split("|")
    assert cut_unknown_members(prefix, suggestion, suffix) == (shown, verdict)


# -- degenerate loops -----------------------------------------------------------------------------

# What `hearth chat` with the embedded model wrote when asked what compute_total does and what a
# negative discount does: one paragraph, again and again until the token limit.
LOOPING_ANSWER = (
    "The function `compute_total` takes a list of items and a discount percentage. "
    + "It calculates the total price of the items and applies the discount to it.\n\n" * 6
)


def test_a_looping_stream_stops_after_its_first_copy_token_by_token():
    paragraph = "It calculates the total price of the items and applies the discount to it.\n\n"
    kept = None
    # Fed as a stream is fed: the detector sees every prefix, and stops at the first one that loops.
    for end in range(1, len(LOOPING_ANSWER) + 1):
        cut = loop_cut(LOOPING_ANSWER[:end])
        if cut is not None:
            kept = LOOPING_ANSWER[:cut]
            break
    assert kept is not None and kept.endswith(paragraph) and kept.count(paragraph) == 1
    assert kept.startswith("The function `compute_total`")


@pytest.mark.parametrize(
    "text",
    [
        "total = 0\nfor item in items:\n    total += item.price\nreturn total\n",
        "x = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]\n",
        "print('-' * 40)\nprint(title)\nprint('-' * 40)\n",
        "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
        "))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
    ],
)
def test_ordinary_code_and_prose_are_not_loops(text):
    assert all(loop_cut(text[:end]) is None for end in range(1, len(text) + 1))


def test_a_repeated_line_is_kept_once():
    line = "        self.assertEqual(result, expected)\n"
    text = "def test_x(self):\n" + line * 3
    assert text[: loop_cut(text)] == "def test_x(self):\n" + line
