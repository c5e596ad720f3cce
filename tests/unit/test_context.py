"""The context engine on real tree-sitter grammars, a real SQLite index and real files."""

from __future__ import annotations

import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from hearth.context.engine import ContextEngine, ContextRequest, render
from hearth.context.files import source_files
from hearth.context.index import RepoIndex
from hearth.context.jedi_names import JediResolver
from hearth.context.syntax import SyntaxCache, changed_range, enclosing_scopes, outline, parse

GEOMETRY = '''"""Shapes."""


def area(width, height):
    """Area of a rectangle."""
    return width * height


class Box:
    """A box of things."""

    def volume(self, depth):
        return area(self.width, self.height) * depth
'''

USER = (
    """import math
from geometry import area, Box
"""
    + "\n" * 200
    + '''
class Report:
    """Totals for the report."""

    def total(self, items):
        result = 0
        for item in items:
            result += area(item.w, item.h) + Box().volume(2)
'''
)


@pytest.mark.parametrize(
    ("language", "source", "names"),
    [
        ("python", GEOMETRY, ["area", "Box", "volume"]),
        ("javascript", "import x from 'y';\nfunction add(a, b) { return a + b }\nclass K { m() {} }\n",
         ["add", "K", "m"]),
        ("typescript", "interface P { a: string }\nexport function f(p: P) { return 1 }\n", ["P", "f"]),
        ("typescriptreact", "export function C() { return <div/> }\n", ["C"]),
        ("go", "package m\nfunc Sum(a int) int { return a }\ntype T struct{}\n", ["Sum", "T"]),
        ("rust", "fn main() {}\nstruct Foo;\nimpl Foo { fn bar(&self) {} }\n", ["main", "Foo", "Foo", "bar"]),
        ("java", "class A { void m() {} }\n", ["A", "m"]),
        ("c", "int add(int a, int b) { return a + b; }\nstruct P { int x; };\n", ["add", "P"]),
        ("cpp", "namespace n { class C {}; int g() { return 1; } }\n", ["n", "C", "g"]),
    ],
)  # fmt: skip
def test_outline_in_every_language(language, source, names):
    assert sorted(d.name for d in outline(language, source).definitions) == sorted(names)


def test_unknown_language_and_broken_code_do_not_fail():
    assert outline("cobol", "IDENTIFICATION DIVISION.").definitions == ()
    broken = outline("python", "def f(:\n    return ]\nclass")
    assert broken.has_errors
    assert enclosing_scopes("plaintext", "x", 1) == []


def test_scopes_and_docstrings():
    offset = GEOMETRY.index("return area") + 3
    chain = enclosing_scopes("python", GEOMETRY, offset)
    assert [d.signature for d in chain] == ["class Box:", "def volume(self, depth):"]
    assert chain[0].doc == "A box of things."


def test_incremental_tree_equals_a_fresh_parse():
    rng = random.Random(5)
    cache = SyntaxCache()
    text = GEOMETRY * 20
    for _ in range(300):
        pos = rng.randrange(len(text) + 1)
        if rng.random() < 0.6:
            text = text[:pos] + rng.choice(["x", "é", "\n", "(", "  ", "👋", "\r\n", "def "]) + text[pos:]
        else:
            text = text[:pos] + text[pos + rng.randint(1, 4) :]
        tree = cache.tree("u", "python", text)
        assert str(tree.root_node) == str(parse("python", text).root_node)


def test_changed_range():
    assert changed_range(b"abcdef", b"abXdef") == (2, 3, 3)
    assert changed_range(b"aaa", b"aaaa") == (3, 3, 4)
    assert changed_range(b"abc", b"") == (0, 3, 0)


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "geometry.py").write_text(GEOMETRY)
    (tmp_path / "report.py").write_text(USER)
    return tmp_path


def test_index_definitions_persist_and_update(repo, tmp_path):
    db = tmp_path / "cache" / "index.sqlite3"
    index = RepoIndex(repo, db)
    stats = index.build()
    assert stats.files_indexed == 2
    assert [s.signature for s in index.definitions(["area"])] == ["def area(width, height):"]
    index.close()
    again = RepoIndex(repo, db)
    assert again.build().files_indexed == 0  # a restart re-reads nothing unchanged
    again.update("geometry.py", GEOMETRY.replace("def area(width, height)", "def area(w, h, d=1)"))
    assert again.definitions(["area"])[0].signature == "def area(w, h, d=1):"
    (repo / "geometry.py").unlink()
    again.build()
    assert again.definitions(["area"]) == []


def test_context_block_brings_definitions_scopes_and_imports(repo, tmp_path):
    index = RepoIndex(repo, tmp_path / "i.sqlite3")
    index.build()
    engine = ContextEngine(index=lambda: index)
    offset = USER.index("area(item.w") + len("area(item.w, item.h) + Box().volume(2)")
    request = ContextRequest("file:///r.py", "python", "report.py", USER, offset, visible_from=offset - 120)
    block = engine.block(request, 300)
    by_source: dict[str, list] = {}
    for part in block.parts:
        by_source.setdefault(part.source, []).append(part)
    definitions = {p.label: p.text for p in by_source["definition"]}
    assert definitions["geometry.py:4"].startswith("def area(width, height):")
    assert '"""Area of a rectangle."""' in definitions["geometry.py:4"]
    assert definitions["geometry.py:12"] == "def volume(self, depth):"
    assert "import math" in by_source["imports"][0].text
    assert "class Report:" in by_source["scope"][0].text
    assert block.text.startswith("# Context (Hearth):") and all(
        line.startswith("#") for line in block.text.strip().split("\n")
    )
    assert block.tokens <= 300
    # Typing inside the same scope keeps the very same block (the KV cache survives).
    typed = USER[:offset] + "\n            " + USER[offset:]
    later = ContextRequest(
        "file:///r.py", "python", "report.py", typed, offset + 13, visible_from=offset - 120
    )
    assert engine.block(later, 300) is block
    # A tight budget keeps the most useful parts first.
    small = ContextEngine(index=lambda: index).block(request, 30)
    assert small.parts and sum(p.tokens + 4 for p in small.parts) <= 30
    order = [(p.source, p.label) for p in block.parts]
    positions = [order.index((p.source, p.label)) for p in small.parts]
    assert positions == sorted(positions) and positions[0] == 0


def test_snippets_from_other_open_files():
    other = (
        "def total(items):\n    result = 0\n    for item in items:\n        result += item.price * item.n\n"
    )
    engine = ContextEngine(open_documents=lambda: [("file:///o.py", "o.py", other)])
    text = "def sum_up(items):\n    result = 0\n    for item in items:\n        result += item."
    block = engine.block(ContextRequest("file:///n.py", "python", "n.py", text, len(text), 0), 300)
    assert [p.source for p in block.parts] == ["snippet"]
    assert "item.price" in block.parts[0].text


TWO_PLACES = (
    "from os.path import join\n\n\ndef build(parts):\n    return join(parts)\n\n\n"
    "def other(parts):\n    return join(\n"
)


def _at(text: str, marker: str, uri: str = "file:///w/build.py") -> ContextRequest:
    offset = text.index(marker) + len(marker)
    return ContextRequest(uri, "python", "build.py", text, offset, visible_from=0)


def test_coming_back_to_a_place_finds_the_block_it_had():
    """The model worker keeps the KV cache of a place left behind; a block that changed meanwhile
    would make coming back a cold prompt."""
    open_docs: list[tuple[str, str, str]] = []
    engine = ContextEngine(open_documents=lambda: open_docs)
    text = TWO_PLACES + "\n\ndef total(items):\n    result = 0\n    for item in items:\n"
    text += "        result += item.\n"
    first = engine.block(_at(text, "result += item."), 300)
    assert first.parts == ()
    # Another document opens whose code is like the code here: a new place would show it.
    similar = "def sum_up(items):\n    result = 0\n    for item in items:\n        result += item.price\n"
    open_docs.append(("file:///w/other.py", "other.py", similar))
    engine.block(_at(text, "def build(parts):\n    return join("), 300)
    assert engine.block(_at(text, "result += item."), 300) is first
    assert engine.last("file:///w/build.py") is first
    engine.forget("file:///w/build.py")
    rebuilt = engine.block(_at(text, "result += item."), 300)
    assert [p.source for p in rebuilt.parts] == ["snippet"]


def test_a_document_opening_asks_jedi_about_its_imports_so_the_first_block_has_them(tmp_path):
    class Recording(JediResolver):
        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.asked: list[dict[str, tuple[int, int]]] = []

        def lookup(self, path, text, names, wait_s=0.0):
            self.asked.append(dict(names))
            return super().lookup(path, text, names, wait_s)

    resolver = Recording(tmp_path)
    try:
        engine = ContextEngine(jedi=resolver)
        text = "import os.path as osp, json\nfrom os.path import join\n" + TWO_PLACES.split("\n", 1)[1]
        engine.warm("file:///w/build.py", "python", "build.py", text)
        # Each name where its import binds it: jedi follows it from there into the library.
        assert resolver.asked == [{"osp": (1, 18), "json": (1, 23), "join": (2, 20)}]
        answered = resolver.lookup("build.py", text, resolver.asked[0], wait_s=120)
        assert answered.complete and {r.name for r in answered.found} == {"osp", "json", "join"}
        # The first block at a place, not waiting at all, has what the opening asked for.
        block = engine.block(_at(text, "def build(parts):\n    return join("), 300, jedi_wait_s=0)
        assert any(p.source == "library" and "def join(" in p.text for p in block.parts)
    finally:
        resolver.close()


def test_jedi_answers_reach_a_place_once_and_then_it_stays_put(tmp_path):
    resolver = JediResolver(tmp_path)
    try:
        engine = ContextEngine(jedi=resolver)
        here, there = "def other(parts):\n    return join(", "def build(parts):\n    return join("
        # Not waited for: jedi has not answered yet.
        first = engine.block(_at(TWO_PLACES, here), 300, jedi_wait_s=0)
        assert not [p for p in first.parts if p.source == "library"]
        deadline = time.monotonic() + 120
        while not resolver.lookup("build.py", TWO_PLACES, {"join": (9, 11)}, wait_s=1).complete:
            assert time.monotonic() < deadline, "jedi never answered"
        # While the user stays at the place, its block does not change under them.
        assert engine.block(_at(TWO_PLACES, here), 300, jedi_wait_s=0) is first
        # Coming back, the block it had lacked jedi's answer: built again, once.
        engine.block(_at(TWO_PLACES, there), 300, jedi_wait_s=0)
        back = engine.block(_at(TWO_PLACES, here), 300, jedi_wait_s=0)
        library = [p for p in back.parts if p.source == "library"]
        assert any("def join(" in p.text for p in library)
        engine.block(_at(TWO_PLACES, there), 300, jedi_wait_s=0)
        assert engine.block(_at(TWO_PLACES, here), 300, jedi_wait_s=0) is back
        # A new place waits for what jedi does not know yet (a name of a module it has not loaded).
        timed = "import time\n" + TWO_PLACES + "\n\ndef when():\n    return time.monotonic(\n"
        block = ContextEngine(jedi=resolver).block(_at(timed, "return time.monotonic("), 300, jedi_wait_s=60)
        assert any(p.source == "library" and "monotonic" in p.text for p in block.parts)
    finally:
        resolver.close()


def test_render_uses_the_languages_comment():
    from hearth.context.engine import ContextPart

    text = render([ContextPart("definition", "a.go:3", "func Sum(a int) int")], "go")
    assert text.splitlines()[:3] == [
        "// Context (Hearth):",
        "// [definition] a.go:3",
        "//   func Sum(a int) int",
    ]


def test_hostile_workspace_files_are_skipped(tmp_path):
    (tmp_path / "good.py").write_text("def ok():\n    pass\n")
    (tmp_path / "binary.py").write_bytes(b"\x00\x01def x(): pass")
    (tmp_path / "latin1.py").write_bytes(b"def caf\xe9():\n    pass\n")
    (tmp_path / "gen.py").write_text("# @generated by protoc. DO NOT EDIT.\ndef g(): pass\n")
    (tmp_path / "min.js").write_text("var a=" + "1+" * 5000 + "1;\n")
    (tmp_path / "huge.py").write_text("x = 1\n" * 300_000)
    (tmp_path / "ignored.py").write_text("def ignored(): pass\n")
    (tmp_path / ".hearthignore").write_text("ignored.py\nvendor/\n")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "v.py").write_text("def v(): pass\n")
    loop = tmp_path / "loop"
    loop.mkdir()
    os.symlink(tmp_path, loop / "back")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "secret.py").write_text("def s(): pass\n")
    locked.chmod(0)
    try:
        names = sorted(p.name for p in source_files(tmp_path))
        index = RepoIndex(tmp_path, tmp_path / "c" / "i.sqlite3")
        index.build()
    finally:
        locked.chmod(0o700)
    expected = ["good.py", "latin1.py"] if os.geteuid() != 0 else ["good.py", "latin1.py", "secret.py"]
    assert names == expected
    assert [s.name for s in index.definitions(["ok", "cafe", "g", "ignored", "v"])] == ["ok"]


def test_gitignore_is_respected(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("build_out/\n")
    (tmp_path / "build_out").mkdir()
    (tmp_path / "build_out" / "gen.py").write_text("def gen(): pass\n")
    (tmp_path / "main.py").write_text("def main(): pass\n")
    assert [p.name for p in source_files(tmp_path)] == ["main.py"]


def test_pagerank_and_the_repository_map(repo, tmp_path):
    from hearth.context.repomap import pagerank, repository_map

    ranks = pagerank(["a", "b", "c"], [("a", "b", 1.0), ("c", "b", 1.0), ("b", "a", 1.0)])
    assert ranks["b"] > ranks["a"] > ranks["c"] and abs(sum(ranks.values()) - 1) < 1e-6
    index = RepoIndex(repo, tmp_path / "m.sqlite3")
    index.build()
    text = repository_map(index, 200, lambda s: max(1, len(s) // 3))
    # report.py uses area and Box from geometry.py: geometry's definitions lead the map.
    assert text.startswith("geometry.py:\n  4: def area(width, height):")
    assert len(repository_map(index, 8, lambda s: max(1, len(s) // 3)).split("\n")) <= 2


def test_the_cli_finds_the_project_root_as_editors_do(tmp_path):
    from hearth.commands.complete import project_root

    project = tmp_path / "shop"
    (project / "shop" / "sub").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    assert project_root(project / "shop" / "sub", cwd=tmp_path) == project
    loose = tmp_path / "loose" / "pkg"
    loose.mkdir(parents=True)
    assert project_root(loose, cwd=tmp_path / "loose") == tmp_path / "loose"  # no marker: the cwd
    assert project_root(loose, cwd=project) is None  # outside the cwd and no marker
    (tmp_path / "loose" / ".git").mkdir()
    assert project_root(loose, cwd=project) == tmp_path / "loose"
