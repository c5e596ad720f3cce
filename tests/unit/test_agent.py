"""The edit agent's parts and control flow (a scripted model; the real one is in tests/e2e)."""

from __future__ import annotations

import ast
import re
import sys
import time

import pytest

from hearth.agent.add_parameter import CannotAdd, add_parameter, functions_named
from hearth.agent.agent import FEEDBACK_PROBLEMS, AgentSettings, EditAgent, EditRequest
from hearth.agent.blocks import EditFailed, apply_blocks, definition_grammar, edit_grammar, parse_blocks
from hearth.agent.changes import FileChange, Sources, unified_diff
from hearth.agent.chat import ChatRequest, ChatService, fit_history, render_chatml
from hearth.agent.context import Focus
from hearth.agent.conversations import ConversationStore, Message
from hearth.agent.interfaces import interface_problems
from hearth.agent.localize import candidate_files, localize, target_definition
from hearth.agent.tools import route
from hearth.agent.validate import (
    SuiteRun,
    covering_tests,
    name_problems,
    newly_failing,
    run_tests,
    runs_files,
    stale_references,
    syntax_problems,
)
from hearth.agent.workspace import WorkspaceGuard
from hearth.config import Settings
from hearth.text.tokens import estimate_tokens
from tests.fakes import ScriptedBackend


@pytest.fixture
def project(edit_project):
    return edit_project


def block(path: str, search: str, replace: str) -> str:
    return f"FILE: {path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


# -- the format and the grammar ---------------------------------------------------


def test_blocks_parse_and_apply_in_order():
    files = {"a.py": "def f():\n    return 1\n\n\ndef g():\n    return f()\n"}
    text = (
        "chatter\n"
        + block("a.py", "    return 1\n", "    return 2\n")
        + block("a.py", "def g():\n", "def h():\n")
    )
    assert apply_blocks(files, parse_blocks(text)) == {
        "a.py": "def f():\n    return 2\n\n\ndef h():\n    return f()\n"
    }


@pytest.mark.parametrize(
    ("draft", "reason"),
    [
        ("no blocks at all", "no edit blocks"),
        (block("a.py", "x = 1\n", "x = 1\n"), "changes nothing"),
        (block("a.py", "x = 1\n", "x  =  1\n"), "blank space"),
        (block("a.py", "y = 1\n", "y = 2\n"), "occur 2 times"),
        (block("a.py", "z = 3\n", "z = 4\n"), "not in a.py"),
        (block("b.py", "x = 1\n", "x = 2\n"), "not one of the files"),
    ],
)
def test_bad_blocks_say_why(draft, reason):
    with pytest.raises(EditFailed, match=reason):
        apply_blocks({"a.py": "x = 1\ny = 1\ny = 1\n"}, parse_blocks(draft))


def test_grammars_compile_in_llama_cpp_and_quote_only_real_lines():
    import llama_cpp

    files = {"a.py": 'print("quote \\\\ back")\n\tTab = 1\n', "dir/b.py": "x = 1"}
    grammar = edit_grammar(files)
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
    llama_cpp.LlamaGrammar.from_string(definition_grammar("a.py", files["a.py"]), verbose=False)
    assert '"print(\\"quote \\\\\\\\ back\\")\\n"' in grammar  # quotes and backslashes escaped
    assert '"\\tTab = 1\\n"' in grammar and '"x = 1\\n"' in grammar
    # A definition's rewrite keeps its name; its parameters may change (hints, a new parameter).
    rewrite = definition_grammar("a.py", "def tax(price):\n    return price\n")
    llama_cpp.LlamaGrammar.from_string(rewrite, verbose=False)
    assert '"def tax(price):\\n    return price\\n" "=======\\n" "def tax(" [^\\n]{0,' in rewrite
    decorated = definition_grammar("a.py", "@cache\ndef tax(price):\n    return price\n")
    llama_cpp.LlamaGrammar.from_string(decorated, verbose=False)
    assert '"=======\\n" "@cache\\ndef tax(" [^\\n]{0,' in decorated


# -- validation ---------------------------------------------------------------------


def test_syntax_and_stale_reference_checks():
    broken = FileChange("a.py", "def f():\n    return 1\n", "def f(:\n    return 1\n")
    assert syntax_problems([broken]) and not syntax_problems([FileChange("a.py", None, "x = 1\n")])
    renamed = FileChange("a.py", "def fetch():\n    pass\n", "def load():\n    pass\n")
    problems = stale_references([renamed], lambda: [("b.py", "from a import fetch\nfetch()\n")])
    assert problems == [
        "fetch is no longer defined but is still used at b.py:1, b.py:2; update those uses too"
    ]
    assert stale_references([renamed], lambda: [("b.py", "from a import load\n")]) == []


LOADER = """from shop.models import Item

RETRIES = 3


def fetch(path, retries=RETRIES):
    return open(path).read()


class Reader:
    def read(self, path):
        return fetch(path)
"""
USERS = [
    (
        "shop/app.py",
        "from shop.loader import RETRIES, fetch\nfrom .loader import Reader\n\n"
        "print(fetch('a'), fetch('b', 2), Reader().read('c'))\n",
    ),
    ("shop/other.py", "def fetch(url, session):\n    pass\n\nfetch('u', None)\n"),  # another fetch
    ("shop/wild.py", "from shop.loader import fetch\nargs = ()\nfetch(*args)\n"),  # cannot tell
]


def test_an_edit_that_breaks_an_import_or_a_call_elsewhere_is_found_and_one_that_does_not_is_not():
    def problems(after: str) -> list[str]:
        return interface_problems([FileChange("shop/loader.py", LOADER, after)], USERS)

    # A required parameter where callers give none, a constant another module imports, gone.
    broken = LOADER.replace("def fetch(path, retries=RETRIES):", "def fetch(path, timeout, retries=3):")
    broken = broken.replace("RETRIES = 3\n", "")
    # The second call in app.py gives the new parameter by position; other.py's fetch is another
    # function that fits either way; wild.py's call through *args cannot be told.
    assert problems(broken) == [
        "shop/app.py:1 imports RETRIES from shop.loader, which no longer defines it after this edit; "
        "keep RETRIES or update that import",
        "shop/loader.py:11: fetch needs timeout, which the call does not give after this edit; "
        "update the call (or give the new parameter a default)",
        "shop/app.py:4: fetch needs timeout, which the call does not give after this edit; "
        "update the call (or give the new parameter a default)",
    ]
    # A parameter with a default, a method that keeps fitting its bound calls: nothing.
    assert (
        problems(
            LOADER.replace(
                "def fetch(path, retries=RETRIES):", "def fetch(path, retries=RETRIES, timeout=10):"
            )
        )
        == []
    )
    assert problems(LOADER.replace("    def read(self, path):", "    def read(self, path, mode='r'):")) == []
    # A keyword the function no longer takes.
    renamed = LOADER.replace("retries=RETRIES):", "attempts=RETRIES):")
    assert problems(renamed) == []  # nobody passes retries by name
    keyword = [("shop/k.py", "from shop.loader import fetch\nfetch('a', retries=1)\n")]
    (found,) = interface_problems([FileChange("shop/loader.py", LOADER, renamed)], keyword)
    assert found.startswith("shop/k.py:2: fetch has no parameter retries after this edit")


MODELS = """from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple


@dataclass
class Item:
    name: str
    price: float
    quantity: int = 0
    kind: ClassVar[str] = "item"

    def value(self):
        return self.price * self.quantity


class Point(NamedTuple):
    x: int
    y: int = 0


class Shelf(list):
    pass
"""
MAKERS = [
    ("shop/stock.py", "from shop.models import Item, Point, Shelf\n"
     "items = [Item('a', 1.0, 1), Item(name='b', price=2.0)]\nPoint(1, 2)\nShelf([1])\n"),
]  # fmt: skip


def test_an_edit_that_changes_what_constructing_a_class_takes_is_found_where_it_is_constructed():
    def problems(after: str) -> list[str]:
        return interface_problems([FileChange("shop/models.py", MODELS, after)], MAKERS)

    # What a real model's draft for "add a method restock" did: Item took two arguments, not three.
    init = (
        "    def __init__(self, name, price):\n        self.name, self.price = name, price\n\n    def value"
    )
    assert problems(MODELS.replace("    def value", init)) == [
        "shop/stock.py:2: Item takes 2 positional argument(s) but the call gives 3 after this edit; "
        "update the call (or give the new parameter a default)"
    ]
    # A field gone, or a new one without a default, on a dataclass and on a NamedTuple.
    (gone,) = problems(MODELS.replace("    quantity: int = 0\n", ""))
    assert gone.startswith("shop/stock.py:2: Item takes 2 positional argument(s) but the call gives 3")
    # Both calls on line 2 lack sku: one finding.
    assert problems(MODELS.replace("    kind: ClassVar", "    sku: str\n    kind: ClassVar")) == [
        "shop/stock.py:2: Item needs sku, which the call does not give after this edit; update the call "
        "(or give the new parameter a default)"
    ]
    (point,) = problems(MODELS.replace("    y: int = 0\n", ""))
    assert point.startswith("shop/stock.py:3: Point takes 1 positional argument(s) but the call gives 2")
    # What keeps every call fitting: a method, a field with a default, a class variable, a field
    # left out of __init__; and a constructor that could not be told before the edit (Shelf
    # inherited list's), which nobody can say the call fitted.
    keeps = [
        MODELS.replace("    def value", "    def restock(self, amount):\n        self.quantity += amount\n\n    def value"),
        MODELS.replace("    kind: ClassVar", "    sku: str = ''\n    tags: list = field(default_factory=list)\n"
                       "    kind: ClassVar"),
        MODELS.replace("    kind: ClassVar[str]", "    note: str = field(init=False)\n    kind: ClassVar[str]"),
        MODELS.replace("class Shelf(list):\n    pass", "class Shelf(list):\n    def __init__(self):\n"
                       "        super().__init__()"),
    ]  # fmt: skip
    assert [problems(after) for after in keeps] == [[], [], [], []]


PRICING = """def compute_total(items, discount_percent):
    gross = sum(item.price * item.quantity for item in items)
    return round(gross * (1 - discount_percent / 100), 2)
"""


def test_an_edit_that_leaves_a_local_undefined_is_refused_with_the_name():
    # The edit a real model offered: the check raises, but the line defining gross is gone.
    broken = PRICING.replace(
        "    gross = sum(item.price * item.quantity for item in items)\n",
        '    if discount_percent < 0:\n        raise ValueError("negative discount")\n',
    )
    problems = name_problems([FileChange("shop/pricing.py", PRICING, broken)])
    assert len(problems) == 1 and "`gross` is used but not defined" in problems[0]
    assert problems[0].startswith("shop/pricing.py:4:")
    # The same check without the deletion passes.
    fixed = PRICING.replace(
        "    gross =", '    if discount_percent < 0:\n        raise ValueError("no")\n    gross ='
    )
    assert name_problems([FileChange("shop/pricing.py", PRICING, fixed)]) == []


@pytest.mark.parametrize(
    ("after", "kind"),
    [
        ("def f(a, a):\n    return a\n", "duplicate argument"),
        ("def g():\n    pass\n\n\ndef g():\n    pass\n", "redefinition of unused 'g'"),
        (
            "total = 0\n\n\ndef h():\n    print(total)\n    total = 1\n",
            "`total` is used before it is assigned",
        ),
        ("for x in []:\n    pass\nreturn 3\n", "'return' outside function"),
    ],
)
def test_scope_aware_findings_the_edit_introduced(after, kind):
    problems = name_problems([FileChange("m.py", "x = 1\n", after)])
    assert len(problems) == 1 and kind in problems[0], problems


def test_findings_already_there_and_harmless_ones_do_not_block():
    messy = "import os\n\n\ndef f():\n    return undefined_before\n"
    edited = messy.replace("return undefined_before", "value = 2\n    return undefined_before")
    # An unused import and an unused local are not failures, and the old undefined name is not new.
    assert name_problems([FileChange("m.py", messy, edited)]) == []
    # Languages whose grammar has no locals query (Go) and deleted files are not its business.
    go = "package p\n\nfunc f() int { x := 1; return x }\n"
    assert (
        name_problems([FileChange("a.go", go, go.replace("x := 1; ", "")), FileChange("m.py", messy, None)])
        == []
    )


PRICING_JS = """import { round2 } from './util.js';

export function computeTotal(items, discountPercent = 0) {
  const gross = items.reduce((sum, item) => sum + item.price, 0);
  for (const { price } of items) { console.log(price); }
  return round2(gross * (1 - discountPercent / 100));
}

function helper(...rest) { return rest.length; }
"""


@pytest.mark.parametrize("path", ["shop/pricing.js", "shop/pricing.ts"])
def test_javascript_and_typescript_edits_that_lose_a_definition_are_found_by_scope(path):
    gone = PRICING_JS.replace("  const gross = items.reduce((sum, item) => sum + item.price, 0);\n", "")
    problems = name_problems([FileChange(path, PRICING_JS, gone)])
    assert len(problems) == 1 and problems[0].startswith(f"{path}:5: `gross` is used but no longer defined")
    # Used in another function, where its definition does not reach.
    elsewhere = PRICING_JS.replace("return rest.length;", "return rest.length + gross;")
    assert [p.split(":")[1] for p in name_problems([FileChange(path, PRICING_JS, elsewhere)])] == ["9"]
    unimported = PRICING_JS.replace("import { round2 } from './util.js';\n", "")
    assert "`round2`" in " ".join(name_problems([FileChange(path, PRICING_JS, unimported)]))


def test_new_uses_of_globals_and_names_already_unresolved_do_not_block_javascript():
    # `console` and `window` are defined nowhere in the file: the scope model cannot know them.
    added = PRICING_JS + "console.log(window.location, helper(), computeTotal([]));\n"
    assert name_problems([FileChange("a.js", PRICING_JS, added)]) == []
    # A `var` used outside its block resolves nowhere in this model, before as after.
    hoisted = "function f() {\n  if (1) { var v = 1; }\n  return v;\n}\n"
    assert name_problems([FileChange("b.js", hoisted, hoisted.replace("return v;", "return v + 1;"))]) == []


def test_the_agent_feeds_an_undefined_name_back_and_says_what_it_checked(project):
    original = (project / "shelf/pricing.py").read_text()
    line = next(line for line in original.splitlines() if "return price * TAX_RATE" in line)
    broken = block("shelf/pricing.py", line + "\n", line.replace("price *", "cost *") + "\n")
    good = block("shelf/pricing.py", "def tax(price):\n" + line + "\n",
                 'def tax(price):\n    """Tax due on price."""\n' + line + "\n")  # fmt: skip
    backend = ScriptedBackend([broken, good])
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings(max_attempts=3))
    result = agent.run(EditRequest("add a docstring to tax"))
    assert result.ok and len(result.attempts) == 2
    assert "`cost` is used but not defined" in result.attempts[0].problem
    assert "`cost` is used but not defined" in backend.requests[1].prompt
    assert result.checks == ("syntax", "names", "references", "imports and calls", "code unchanged")
    assert result.summary.endswith("checked: syntax, names, references, imports and calls, code unchanged")


def test_a_draft_that_breaks_many_calls_feeds_back_the_first_few(project):
    calls = "".join(f"Item('i{n}', 1.0, {n})\n" for n in range(12))
    (project / "shelf/many.py").write_text("from shelf.models import Item\n" + calls)
    field = "    quantity: int = 0\n"
    assert field in (project / "shelf/models.py").read_text()
    backend = ScriptedBackend([block("shelf/models.py", field, "")] * 2)
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings(max_attempts=2))
    result = agent.run(EditRequest("remove quantity from Item"))
    assert not result.ok and [a.refused_by for a in result.attempts] == ["imports and calls"] * 2
    assert result.attempts[0].problem.count("Item takes 2 positional argument(s)") > FEEDBACK_PROBLEMS
    retry = backend.requests[1].prompt
    assert retry.count("Item takes 2 positional argument(s)") == FEEDBACK_PROBLEMS
    assert "more like these" in retry


def test_test_command_runs_on_a_copy_with_a_timeout_and_kills_the_group(project, tmp_path):
    marker = tmp_path / "grandchild-alive"
    run = run_tests(f"{sys.executable} -m pytest -q -p no:cacheprovider tests", project,
                    [FileChange("shelf/pricing.py", None, (project / "shelf/pricing.py").read_text()
                                .replace("price + price", "price - price"))], 120)  # fmt: skip
    assert run.passed, run.output
    assert "price + price" in (project / "shelf/pricing.py").read_text()  # the real tree is untouched
    child = f"import time; time.sleep(3); open({str(marker)!r}, 'w')"
    (project / "hang.py").write_text(
        f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}])\ntime.sleep(60)\n"
    )
    started = time.monotonic()
    run = run_tests(f"{sys.executable} hang.py", project, [], 1)
    assert not run.passed and "ran past" in run.output and time.monotonic() - started < 10
    time.sleep(3.5)
    assert not marker.exists()


def test_test_command_sees_a_scrubbed_environment(project, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2")
    run = run_tests(f"{sys.executable} -c 'import os; print(sorted(os.environ))'", project, [], 30)
    assert run.passed and "AWS_SECRET_ACCESS_KEY" not in run.output and "PATH" in run.output


# -- localization and routing ---------------------------------------------------------


def test_routes_and_localization(project):
    assert route("Rename the function `total_value` to inventory_value") == (
        "rename",
        ("total_value", "inventory_value"),
    )
    assert route("extract this into a variable named amount") == ("extract_variable", ("amount",))
    assert route("add a docstring to tax") is None
    sources = Sources(WorkspaceGuard([project]))

    def about(instruction):
        return candidate_files(instruction, sources, None, [], None)

    target = target_definition(about("add a docstring to tax"), sources, None)
    assert (
        target is not None and target.path == "shelf/pricing.py" and target.text.startswith("def tax(price):")
    )
    assert target_definition(about("add a timeout to fetch and update its callers"), sources, None) is None
    paths = [e.path for e in localize(about("add a timeout to fetch and update its callers"), sources, None)]
    assert paths == ["shelf/loader.py"]  # defined and called there; nothing else uses it
    callers = localize(
        about("add a currency parameter to format_price and update its callers"), sources, None
    )
    assert [e.path for e in callers][:3] == ["shelf/pricing.py", "shelf/report.py", "tests/test_shelf.py"]


# -- the agent loop -------------------------------------------------------------------


def test_agent_retries_with_the_failure_as_feedback(project):
    bad = block(
        "shelf/pricing.py",
        "def tax(price):\n    return price * TAX_RATE\n",
        "def tax(price):\n    return (\n",
    )
    good = block("shelf/pricing.py", "def tax(price):\n    return price * TAX_RATE\n",
                 'def tax(price):\n    """Tax due on price."""\n    return price * TAX_RATE\n')  # fmt: skip
    backend = ScriptedBackend([bad, good])
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings(max_attempts=3))
    result = agent.run(EditRequest("add a docstring to tax"))
    assert result.ok and result.via == "model" and len(result.attempts) == 2
    assert "no longer parses" in result.attempts[0].problem
    assert "no longer parses" in backend.requests[1].prompt and backend.requests[1].temperature > 0
    assert all(r.grammar.startswith("root ::=") and r.exclusive for r in backend.requests)
    assert result.changes[0].after is not None and '"""Tax due on price."""' in result.changes[0].after
    assert (project / "shelf/pricing.py").read_text().count('"""') == 0  # the agent never writes


def test_agent_gives_up_after_max_attempts_and_stops_when_asked(project):
    same = block("shelf/pricing.py", "def tax(price):\n    return price * TAX_RATE\n",
                 "def tax(price):\n    return price * TAX_RATE\n")  # fmt: skip
    agent = EditAgent(
        ScriptedBackend([same] * 5), Sources(WorkspaceGuard([project])), AgentSettings(max_attempts=2)
    )
    result = agent.run(EditRequest("add a docstring to tax"))
    assert not result.ok and len(result.attempts) == 2 and "changes nothing" in result.message
    stopped = agent.run(EditRequest("add a docstring to tax"), should_stop=lambda: True)
    assert not stopped.ok and stopped.message == "stopped"


def test_jedi_rename_beats_the_model(project):
    backend = ScriptedBackend([])
    result = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings()).run(
        EditRequest("rename parse_line to parse_record")
    )
    assert result.ok and result.via == "rename" and backend.requests == []
    assert sorted(c.path for c in result.changes) == ["shelf/loader.py", "tests/test_shelf.py"]
    assert all(
        "parse_line" not in (c.after or "") and "parse_record" in (c.after or "") for c in result.changes
    )
    assert "+def parse_record(line):" in unified_diff(result.changes)


def test_extract_variable_from_the_selection(project):
    text = (project / "shelf/models.py").read_text()
    start = text.index("self.price * self.quantity")
    focus = Focus("shelf/models.py", "python", text, start, start + len("self.price * self.quantity"))
    result = EditAgent(ScriptedBackend([]), Sources(WorkspaceGuard([project])), AgentSettings()).run(
        EditRequest("extract the selection into a variable named amount", focus=focus)
    )
    assert result.ok and result.via == "extract_variable"
    assert "amount = self.price * self.quantity" in (result.changes[0].after or "")


# -- chat -------------------------------------------------------------------------------


def test_chat_turns_stream_persist_and_resume(tmp_path):
    store = ConversationStore(tmp_path / "chat.sqlite3")
    backend = ScriptedBackend(["It adds.\nThat is all.\n", "Yes.\n"])
    chat = ChatService(backend, store, lambda: Settings())
    pieces: list[str] = []
    turn = chat.start(ChatRequest((Message("user", "What does add do?"),)), pieces.append)
    assert (
        turn.future.result().text == "It adds.\nThat is all.\n"
        and "".join(pieces) == turn.future.result().text
    )
    again = chat.start(ChatRequest((Message("user", "Sure?"),), turn.conversation_id))
    again.future.result()
    stored = store.get(turn.conversation_id)
    assert stored is not None and [m.role for m in stored.messages] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert "What does add do?" in backend.requests[1].prompt  # history went into the second prompt
    assert backend.requests[0].exclusive and backend.requests[0].stream
    assert [c.id for c in store.list()] == [turn.conversation_id] and store.delete(turn.conversation_id)
    with pytest.raises(ValueError):
        chat.start(ChatRequest((Message("assistant", "hi"),)))
    with pytest.raises(ValueError):
        chat.start(ChatRequest((Message("user", "hi"),), "no-such-id"))


def test_history_is_trimmed_oldest_first_but_the_question_stays():
    history = [Message("user", "x" * 3000), Message("assistant", "y" * 300)]
    kept = fit_history(Message("system", "s"), history, Message("user", "q"), 200, estimate_tokens)
    assert [m.content[:1] for m in kept] == ["s", "y", "q"]
    assert render_chatml(kept).endswith("<|im_start|>assistant\n")


def test_a_corrupt_conversation_file_is_moved_aside(tmp_path):
    path = tmp_path / "chat.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = ConversationStore(path)
    conversation = store.create("hello")
    assert store.get(conversation) is not None
    assert list(tmp_path.glob("chat.sqlite3.corrupt-*"))


def test_stopping_an_edit_cancels_the_generation_in_flight(project):
    import threading

    backend = ScriptedBackend([], hold=True)
    stop = threading.Event()
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings())
    threading.Timer(0.3, stop.set).start()
    result = agent.run(EditRequest("add a docstring to tax"), should_stop=stop.is_set)
    assert result.message == "stopped" and backend.handles and backend.handles[0].cancelled


def test_a_locked_conversation_file_is_left_in_place(tmp_path):
    import sqlite3

    path = tmp_path / "chat.sqlite3"
    ConversationStore(path).create("kept")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        store = ConversationStore(path, busy_timeout_s=0.1)
        with pytest.raises(sqlite3.OperationalError):
            store.create("while locked")
    finally:
        holder.rollback()
        holder.close()
    assert not list(tmp_path.glob("chat.sqlite3.corrupt-*"))
    assert [c.title for c in ConversationStore(path).list()] == ["kept"]


def test_a_corrupt_checkpoint_file_is_moved_aside_and_checkpoints_go_on(tmp_path):
    from hearth.agent.changes import FileChange
    from hearth.agent.checkpoint import CheckpointStore

    path = tmp_path / "checkpoints.sqlite3"
    path.write_bytes(b"\x00garbage" * 500)
    store = CheckpointStore(path)
    checkpoint = store.save(tmp_path, "add a line", [FileChange("a.py", "x\n", "x\ny\n")])
    assert store.get(checkpoint).changes == (FileChange("a.py", "x\n", "x\ny\n"),)
    assert list(tmp_path.glob("checkpoints.sqlite3.corrupt-*"))
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_edit_bench_finds_breakage_by_running_the_code(tmp_path, monkeypatch):
    from hearth.bench.edits import _import_failure, copy_project, failing_tests, summarize

    # As under the CLI: Hearth isolates itself, and its children inherit safe-path.
    monkeypatch.setenv("PYTHONSAFEPATH", "1")
    root = copy_project(tmp_path / "project")
    assert _import_failure(root, ["shelf/pricing.py", "tests/test_shelf.py", "README.md"]) is None
    # The project's tests find its package: only the test of the bug a task fixes fails.
    assert failing_tests(root) == {"tests/test_shelf.py::test_pricing"}
    (root / "shelf" / "pricing.py").write_text("TAX = RATE * 2\n")
    failure = _import_failure(root, ["shelf/pricing.py"])
    assert failure is not None and failure.startswith("shelf.pricing no longer imports: NameError")
    row = {"ok": False, "offered": True, "breaks": failure, "drafts": 1, "well_formed": 1, "seconds": 1.0,
           "kind": "behaviour", "generated_tokens": 30, "decode_ms": 500.0, "drafted_tokens": 20,
           "draft_accepted_tokens": 15, "task": "t1", "refused_by": [], "static_check_ms": [4.0]}  # fmt: skip
    refused = {
        **row,
        "offered": False,
        "breaks": None,
        "task": "t2",
        "refused_by": ["names", "names", "tests"],
        "static_check_ms": [2.0, 9.0, 3.0],
    }
    summary = summarize([row, refused])
    assert summary["offered_that_break"] == "1/1" and summary["offered_share"] == 0.5
    assert summary["drafts_refused_by"] == {"names": 2, "tests": 1}
    assert summary["breaks"] == [f"t1: {failure}"]
    assert summary["decode_tokens_per_s"] == 60.0 and summary["draft_acceptance"] == 0.75
    assert summary["static_check_ms_per_draft"] == {"p50": 4.0, "p95": 9.0, "max": 9.0}


def test_tests_that_already_failed_block_nothing_and_a_newly_failing_one_is_named(project):
    """The bench project's test_pricing fails before any edit: only a new failure refuses a draft."""
    line = '    return f"{amount:.2f}"\n'
    breaks_report = block("shelf/pricing.py", line, '    return f"{amount:.1f}"\n')
    documented = block("shelf/pricing.py", "def format_price(amount):\n" + line,
                       'def format_price(amount):\n    """Two decimals."""\n' + line)  # fmt: skip
    backend = ScriptedBackend([breaks_report, documented])
    command = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
    settings = AgentSettings(max_attempts=3, test_command=command)
    result = EditAgent(backend, Sources(WorkspaceGuard([project])), settings).run(
        EditRequest("tidy format_price")
    )
    assert result.ok and len(result.attempts) == 2, result.message
    assert "tests/test_shelf.py::test_report" in result.attempts[0].problem
    assert "test_pricing" not in result.attempts[0].problem.split(":\n")[0]
    assert result.checks == ("syntax", "names", "references", "imports and calls", "3 tests")


def test_newly_failing_compares_named_failures():
    before = SuiteRun(False, frozenset({"t::a"}), "")
    assert newly_failing(before, SuiteRun(True, frozenset(), "")) is None
    assert newly_failing(before, SuiteRun(False, frozenset({"t::a"}), "")) is None
    assert "(t::b)" in (newly_failing(before, SuiteRun(False, frozenset({"t::a", "t::b"}), "out")) or "")
    # Failures that cannot be named count, and so does any failure after a clean run.
    assert newly_failing(before, SuiteRun(False, frozenset(), "crash")) is not None
    assert (
        newly_failing(SuiteRun(True, frozenset(), ""), SuiteRun(False, frozenset({"t::a"}), "")) is not None
    )


def test_tests_importing_a_changed_module_run_first_and_a_pytest_command_naming_paths_runs_whole(
    project,
):
    files = [
        ("tests/test_shelf.py", "from shelf.pricing import tax\n"),
        ("tests/test_models.py", "import os\n"),  # named after shelf/models.py
        ("tests/test_other.py", "from shelf import report\n"),
        ("tests/helpers.py", "from shelf.pricing import tax\n"),  # not a test file
    ]
    changed = [FileChange("shelf/pricing.py", "x = 1\n", "x = 2\n"), FileChange("shelf/models.py", "", "")]
    assert covering_tests(changed, files) == ["tests/test_models.py", "tests/test_shelf.py"]
    assert runs_files(f"{sys.executable} -m pytest -q", project)
    assert not runs_files(f"{sys.executable} -m pytest -q tests", project)  # names its own folder
    assert not runs_files("make test", project)
    # A draft that breaks a test of the module it edits: the covering run finds it.
    broken = block("shelf/models.py", "def in_stock(items):\n", "def in_stock(items):\n    return []\n")
    settings = AgentSettings(
        max_attempts=1, test_command=f"{sys.executable} -m pytest -q -p no:cacheprovider"
    )
    result = EditAgent(ScriptedBackend([broken]), Sources(WorkspaceGuard([project])), settings).run(
        EditRequest("make in_stock return nothing")
    )
    assert (
        not result.ok
        and "the tests fail after this edit (tests/test_shelf.py::" in result.attempts[0].problem
    )


def test_an_edit_asked_only_to_document_must_leave_the_code_as_it_ran(project):
    from hearth.agent.interfaces import behaviour_changes, documents_only

    assert documents_only("add a docstring to total_value") and documents_only("add type hints to tax")
    assert not documents_only("fix apply_discount and document it")
    assert not documents_only("add a method restock(self, amount) to Item")
    before = "def total(items):\n    return sum(items)\n"
    documented = (
        'def total(items: list[int]) -> int:\n    """The sum."""\n    # all of them\n    return sum(items)\n'
    )
    rewritten = 'def total(items):\n    """The sum."""\n    return sum(items) + 0\n'
    assert behaviour_changes([FileChange("m.py", before, documented)]) == []
    assert behaviour_changes([FileChange("m.py", before, rewritten)]) == ["m.py"]
    # The agent refuses a draft that only rewrote the body, and says why; from one that documented
    # the function and broke its body, it keeps the docstring on the code as it was.
    original = (project / "shelf/models.py").read_text()
    rewrite = block("shelf/models.py", "def total_value(items):\n    total = 0.0\n",
                    "def total_value(items):\n    total = 1.0\n")  # fmt: skip
    documented_and_rewritten = block("shelf/models.py", "def total_value(items):\n    total = 0.0\n",
                                     'def total_value(items):\n    """Sum."""\n    total = start\n')  # fmt: skip
    agent = EditAgent(
        ScriptedBackend([rewrite, documented_and_rewritten]),
        Sources(WorkspaceGuard([project])),
        AgentSettings(),
    )
    result = agent.run(EditRequest("add a docstring to total_value"))
    assert result.ok and len(result.attempts) == 2 and result.attempts[0].refused_by == "code unchanged"
    assert "keep every statement as it was" in result.attempts[0].problem
    expected = original.replace("def total_value(items):\n", 'def total_value(items):\n    """Sum."""\n')
    assert [change.after for change in result.changes] == [expected]
    assert (
        "code unchanged" in result.checks and "only its docstrings and type hints are kept" in result.message
    )


def test_what_a_documenting_draft_keeps_is_its_docstrings_and_annotated_signatures_on_the_old_code():
    from hearth.agent.salvage import documentation_of

    before = (
        "import os\n\n\ndef discount(price, percent=0):\n    return price - price * percent / 100\n\n\n"
        "class Item:\n    def restock(self, amount):\n        self.quantity += amount\n\n\n"
        'def tax(price):\n    """Tax."""\n    return price * 0.2\n'
    )
    draft = (
        "import os\n\n\ndef discount(price: float, percent: float = 0) -> float:\n"
        '    """Price after the discount."""\n    cut = price * percent / 100\n    return price - cut\n\n\n'
        'class Item:\n    """A stock item."""\n\n    def restock(self, amount: int) -> None:\n'
        "        self.quantity = self.quantity + amount\n\n\n"
        'def tax(price):\n    """Tax due on price."""\n    return round(price * 0.2, 2)\n'
    )
    assert documentation_of(before, draft) == (
        "import os\n\n\ndef discount(price: float, percent: float = 0) -> float:\n"
        '    """Price after the discount."""\n    return price - price * percent / 100\n\n\n'
        'class Item:\n    """A stock item."""\n\n    def restock(self, amount: int) -> None:\n'
        "        self.quantity += amount\n\n\n"
        'def tax(price):\n    """Tax due on price."""\n    return price * 0.2\n'
    )
    # A signature that changed more than its annotations (a default) is not taken; nor is code alone.
    defaulted = before.replace("def discount(price, percent=0):", "def discount(price: float, percent=5):")
    assert documentation_of(before, defaulted) is None
    assert documentation_of(before, before.replace("* 0.2", "* 0.3")) is None
    assert documentation_of(before, "def broken(:\n") is None


def test_unused_imports_leave_exactly_the_names_pyflakes_finds_unused():
    from hearth.agent.unused_imports import NothingToRemove, remove_unused_imports

    text = (
        "import os\n\nimport numpy as np\nfrom a import b, keep\nfrom typing import (\n    List,\n    Dict,\n)\n\n\n"
        "def f():\n    import json; json.dumps(1)\n    return keep, Dict\n"
    )
    assert remove_unused_imports("m.py", text) == (
        "from a import keep\nfrom typing import Dict\n\n\n"
        "def f():\n    import json; json.dumps(1)\n    return keep, Dict\n"
    )
    assert remove_unused_imports("m.py", text, "os").startswith("import numpy as np\nfrom a import b, keep\n")
    assert remove_unused_imports("m.py", text, "np").startswith("import os\n\nfrom a import b, keep\n")
    with pytest.raises(NothingToRemove, match="`keep` is not an unused import"):
        remove_unused_imports("m.py", text, "keep")
    with pytest.raises(NothingToRemove, match="no unused imports"):
        remove_unused_imports("m.py", "import os\nos.getcwd()\n")


@pytest.mark.parametrize(
    ("instruction", "args"),
    [
        ("remove the unused import os from format_report's module report.py", ("os", "report.py")),
        ("Remove unused imports from shelf/report.py", ("", "shelf/report.py")),
        ("delete all unused imports", ("", "")),
        ("clean up unused imports shelf/report.py", ("", "shelf/report.py")),
    ],
)
def test_an_instruction_to_remove_unused_imports_goes_to_the_tool(instruction, args):
    assert route(instruction) == ("remove_unused_imports", args)


def test_the_agent_removes_the_unused_import_without_the_model(project):
    original = (project / "shelf/report.py").read_text()
    backend = ScriptedBackend([])
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings())
    result = agent.run(EditRequest("remove the unused import os from format_report's module report.py"))
    assert result.ok and result.via == "remove_unused_imports" and backend.requests == []
    assert [(c.path, c.after) for c in result.changes] == [
        ("shelf/report.py", original.replace("import os\n\n", "", 1))
    ]
    assert "syntax" in result.checks and "names" in result.checks
    # Asked for an import the file uses, it says so instead of guessing.
    refused = agent.run(EditRequest("remove the unused import format_price from report.py"))
    assert not refused.ok and "`format_price` is not an unused import" in refused.message


@pytest.mark.parametrize(
    ("name", "text", "checks"),
    [
        ("main.go", "package main\n\nfunc f() int {\n\treturn 1\n}\n", ("syntax", "references")),
        ("main.js", "function f() {\n  return 1;\n}\n", ("syntax", "names", "references")),
    ],
)
def test_an_edit_names_only_the_checks_that_could_look_at_its_files(tmp_path, name, text, checks):
    (tmp_path / name).write_text(text)
    draft = block(name, "  return 1;\n" if name.endswith(".js") else "\treturn 1\n",
                  "  return 2;\n" if name.endswith(".js") else "\treturn 2\n")  # fmt: skip
    agent = EditAgent(ScriptedBackend([draft]), Sources(WorkspaceGuard([tmp_path])), AgentSettings())
    result = agent.run(EditRequest(f"make f in {name} return 2", paths=(name,)))
    assert result.ok and result.checks == checks, result.message


@pytest.mark.parametrize(
    ("instruction", "wanted"),
    [
        (
            "add a timeout parameter with default 10 to fetch and update its callers",
            ("fetch", "timeout", "10"),
        ),
        (
            'add a parameter currency with default "EUR" to format_price',
            ("format_price", "currency", '"EUR"'),
        ),
        (
            "Give the function `run` a new verbose argument with default value False.",
            ("run", "verbose", "False"),
        ),
        ("add a keyword argument retries with a default of 3 to Client.get()", None),  # a dotted name
        ('add a parameter sep with default ";" to parse_line and use it in split', None),  # more than that
        ("give in_stock a parameter minimum with default 1: keep items with at least that quantity", None),
        ("add a parameter timeout to fetch", None),  # no default: every caller changes, the model's job
    ],
)
def test_an_instruction_that_asks_only_for_a_parameter_with_a_default_goes_to_the_tool(instruction, wanted):
    assert route(instruction) == (("add_parameter", wanted) if wanted else None)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("def f():\n", "def f(timeout=10):\n"),
        ("def f(self, a, b: int = 2) -> int:\n", "def f(self, a, b: int = 2, timeout=10) -> int:\n"),
        ("def f(a, /):\n", "def f(a, /, timeout=10):\n"),
        ("def f(a, /, b):\n", "def f(a, /, b, timeout=10):\n"),
        ("def f(a, *args):\n", "def f(a, *args, timeout=10):\n"),
        ("def f(a, *, b=1):\n", "def f(a, *, b=1, timeout=10):\n"),
        ("@cache\nasync def f(a: T):\n", "@cache\nasync def f(a: T, timeout=10):\n"),
        ("def f(\n    a,\n    b,\n):\n", "def f(\n    a,\n    b,\n    timeout=10,\n):\n"),
        ("def f(a,\n      b):\n", "def f(a,\n      b, timeout=10):\n"),
        ("def f(é, b='ü'):\n", "def f(é, b='ü', timeout=10):\n"),
    ],
)
def test_a_new_parameter_goes_after_the_last_that_may_take_it(before, after):
    text = "x = 1\n\n" + before + "    pass\n"
    (function,) = functions_named(ast.parse(text), "f")
    assert add_parameter(text, function, "timeout", "10") == "x = 1\n\n" + after + "    pass\n"


@pytest.mark.parametrize(
    ("source", "reason"),
    [("def f(a, **options):\n    pass\n", "takes **options"), ("def f(timeout):\n    pass\n", "already has")],
)
def test_a_parameter_that_would_change_what_callers_bind_is_refused(source, reason):
    (function,) = functions_named(ast.parse(source), "f")
    with pytest.raises(CannotAdd, match=re.escape(reason)):
        add_parameter(source, function, "timeout", "10")


def test_the_agent_adds_a_parameter_with_a_default_without_the_model(project):
    original = (project / "shelf/loader.py").read_text()
    backend = ScriptedBackend([])
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings())
    result = agent.run(EditRequest("add a timeout parameter with default 10 to fetch and update its callers"))
    assert result.ok and result.via == "add_parameter" and backend.requests == []
    assert [(c.path, c.after) for c in result.changes] == [
        ("shelf/loader.py", original.replace("def fetch(path):", "def fetch(path, timeout=10):"))
    ]
    assert result.checks == ("syntax", "names", "references", "imports and calls")
    assert result.summary.startswith("add_parameter from the syntax tree")
    # A name defined twice, neither in focus: it asks which, instead of guessing.
    (project / "shelf/other.py").write_text("def fetch():\n    return 1\n")
    agent = EditAgent(backend, Sources(WorkspaceGuard([project])), AgentSettings())
    twice = agent.run(EditRequest("add a timeout parameter with default 10 to fetch"))
    assert not twice.ok and "fetch is defined in several places" in twice.message
    assert backend.requests == []
