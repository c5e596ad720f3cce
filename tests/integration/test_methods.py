"""Every LSP method Hearth serves, through its registered handler, with a scripted model.

The server is the real one (create_server, the protocol, the transport) in this
process; the model is scripted, so each assert states exactly what must happen.
"""

from __future__ import annotations

import time

from hearth.bench.edits import copy_project
from hearth.config import Settings
from tests.e2e.editor import CAPABILITIES, DiskEditor

URI = "file:///work/project/app.py"
SOURCE = "def total(values):\n    result = 0\n    for value in values:\n"
END = {"line": 2, "character": 24}
BODY = "\n        result += value"


def open_app(server, text: str = SOURCE, uri: str = URI) -> None:
    server.client.open_document(uri, "python", text)


def inline(server, position=END, trigger: int = 1, uri: str = URI) -> dict:
    return server.client.wait(server.client.inline_completion(uri, position, trigger), timeout=30)


def outcomes(server) -> list[str]:
    return [event["outcome"] for event in server.events_named("completion")]


# -- lifecycle --------------------------------------------------------------------------------


def test_initialize_advertises_what_the_handlers_serve(make_server):
    server = make_server(capabilities={"general": {"positionEncodings": ["utf-8", "utf-16"]}})
    capabilities = server.initialize_result["capabilities"]
    assert capabilities["positionEncoding"] == "utf-8"
    assert capabilities["inlineCompletionProvider"] is not None
    assert capabilities["completionProvider"]["triggerCharacters"] == [".", "(", " "]
    assert set(capabilities["executeCommandProvider"]["commands"]) == {
        "hearth.accepted", "hearth.restartModel", "hearth.edit", "hearth.undoEdit"}  # fmt: skip
    assert server.initialize_result["serverInfo"]["name"] == "hearth"


def test_shutdown_then_exit_ends_the_server_with_code_zero(make_server):
    server = make_server()
    assert server.close() == 0


# -- documents and completions ----------------------------------------------------------------


def test_inline_completion_shows_the_models_block_and_reports_it(make_server):
    server = make_server([BODY])
    open_app(server)
    items = inline(server)["result"]["items"]
    assert len(items) == 1 and items[0]["insertText"] == BODY
    assert items[0]["range"] == {"start": END, "end": END}
    assert items[0]["command"]["command"] == "hearth.accepted"
    assert server.backend.requests[-1].prompt.endswith(SOURCE.rstrip("\n").rstrip())
    assert outcomes(server) == ["shown"]


def test_completion_for_editors_without_inline_support(make_server):
    server = make_server(["value"])
    open_app(server, "total = sum(val", "file:///work/project/b.py")
    params = {"textDocument": {"uri": "file:///work/project/b.py"}, "position": {"line": 0, "character": 15},
              "context": {"triggerKind": 1}}  # fmt: skip
    result = server.client.request("textDocument/completion", params)["result"]
    (item,) = result["items"]
    assert item["textEdit"]["newText"] == "valvalue"
    assert item["textEdit"]["range"]["start"] == {"line": 0, "character": 12}
    assert item["command"]["command"] == "hearth.accepted"


def test_completion_lists_an_explicit_requests_candidates_in_their_order(make_server):
    from hearth.model.backend import GenerationResult

    server = make_server([GenerationResult("ue)", "eos", alternatives=(GenerationResult("ues)", "eos"),))])
    open_app(server, "total = sum(val", "file:///work/project/b.py")
    params = {"textDocument": {"uri": "file:///work/project/b.py"}, "position": {"line": 0, "character": 15},
              "context": {"triggerKind": 1}}  # fmt: skip
    items = server.client.request("textDocument/completion", params)["result"]["items"]
    assert [item["textEdit"]["newText"] for item in items] == ["value)", "values)"]
    assert [(item["sortText"], item.get("preselect")) for item in items] == [("0", True), ("1", False)]
    sid = items[0]["command"]["arguments"][0]
    assert [item["command"]["arguments"] for item in items] == [[sid, 0], [sid, 1]]


def test_did_change_reaches_the_next_prompt(make_server):
    server = make_server([BODY, " + 1"])
    open_app(server)
    server.client.insert(URI, 2, {"line": 0, "character": 0}, "import math\n")
    inline(server, {"line": 3, "character": 24})
    # Whether jedi's answer for `math` made the context block in time is not this test's subject.
    assert server.backend.requests[-1].prompt.endswith("# Path: app.py\nimport math\n" + SOURCE.rstrip())


def test_did_close_forgets_the_document(make_server):
    server = make_server([BODY])
    open_app(server)
    assert server.client.request("hearth/status", {})["result"]["documents"] == 1
    server.client.close_document(URI)
    assert server.client.request("hearth/status", {})["result"]["documents"] == 0
    assert inline(server)["result"]["items"] == []
    assert server.backend.requests == []


def test_did_save_and_watched_files_update_the_repository_index(make_server, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "first.py").write_text("def alpha_helper():\n    return 1\n")
    server = make_server(root=root)

    def mapped() -> str:
        result = server.client.request("hearth/repoMap", {"budget": 400})["result"]
        return result["map"] if result["ready"] else ""

    assert "alpha_helper" in server.wait_for(mapped)
    (root / "second.py").write_text("def beta_helper():\n    return 2\n")
    server.client.notify("workspace/didChangeWatchedFiles", {"changes": [
        {"uri": (root / "second.py").as_uri(), "type": 1}]})  # fmt: skip
    server.wait_for(lambda: "beta_helper" in mapped())
    uri = (root / "first.py").as_uri()
    server.client.open_document(uri, "python", "def alpha_helper():\n    return 1\n")
    renamed = {"text": "def gamma_helper():\n    return 3\n"}
    server.client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                                    "contentChanges": [renamed]})  # fmt: skip
    server.client.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
    server.wait_for(lambda: "gamma_helper" in mapped())


def test_did_change_configuration_applies_at_once_and_names_a_bad_value(make_server):
    server = make_server([BODY])
    open_app(server)
    server.client.notify(
        "workspace/didChangeConfiguration", {"settings": {"enabled": False, "maxLines": "x"}}
    )
    assert inline(server)["result"]["items"] == []
    assert outcomes(server) == ["disabled"]
    warnings = [
        n["params"]["message"] for n in server.client.notifications if n["method"] == "window/showMessage"
    ]
    assert len(warnings) == 1 and "maxLines" in warnings[0]


def test_settings_given_on_the_command_line_are_not_replaced_by_the_editors(make_server):
    # `hearth serve --max-tokens 7`: an editor sends every setting, its defaults included.
    server = make_server([BODY], settings=Settings(max_tokens=7), pinned=frozenset({"max_tokens"}))
    server.client.notify("workspace/didChangeConfiguration", {"settings": {"maxTokens": 64, "maxLines": 3}})
    server.wait_for(lambda: server.services.settings.current.max_lines == 3)
    assert server.services.settings.current.max_tokens == 7


# -- what the editor reports ------------------------------------------------------------------


def test_an_automatic_suggestion_is_judged_by_the_filter_of_the_model_answering_it(make_server):
    from hearth.paths import data_dir
    from hearth_telemetry.filter import FILTER_FILE, FilterModel, StageModel, model_filter_path

    def always(score_high: bool) -> FilterModel:
        intercept = 60.0 if score_high else -60.0
        stage = StageModel(names=[], mean=[], scale=[], coef=[], intercept=intercept, threshold=0.5)
        return FilterModel(stage1=stage, stage2=stage)

    always(True).save(data_dir() / FILTER_FILE)
    always(False).save(model_filter_path(data_dir(), "llamacpp/qwen2.5-coder-7b"))
    server = make_server([BODY, BODY], learn=True)
    open_app(server)
    assert inline(server, trigger=2)["result"]["items"][0]["insertText"] == BODY
    # The engine answers now: its own filter skips the suggestion before any generation.
    server.backend.served = ("llamacpp", "qwen2.5-coder-7b")
    assert inline(server, trigger=2)["result"]["items"] == []
    assert len(server.backend.requests) == 1
    assert outcomes(server) == ["shown", "skipped_by_filter"]
    # Any other model is judged by the filter for every model.
    server.backend.served = ("openai", "other")
    assert inline(server, trigger=2)["result"]["items"][0]["insertText"] == BODY


def test_shown_partial_and_full_accepts_are_recorded(make_server):
    server = make_server([BODY, BODY])
    open_app(server)
    first = inline(server)["result"]["items"][0]
    server.client.notify("textDocument/didShowCompletion", {"item": first})
    server.client.notify("textDocument/didPartiallyAcceptCompletion", {"item": first, "acceptedLength": 4})
    second = inline(server)["result"]["items"][0]
    accept = {"command": "hearth.accepted", "arguments": [second["command"]["arguments"][0]]}
    server.client.request("workspace/executeCommand", accept)
    server.wait_for(lambda: len(server.events_named("accepted")) == 2)
    shown = server.events_named("shown")
    accepted = server.events_named("accepted")
    assert [e["id"] for e in shown] == [first["command"]["arguments"][0]]
    assert [(e["kind"], e["accepted_chars"]) for e in accepted] == [("partial", 4), ("full", len(BODY))]


def test_an_explicit_request_offers_candidates_to_cycle_through_and_the_one_taken_is_recorded(make_server):
    from hearth.model.backend import GenerationResult

    other = GenerationResult("\n        result = result + value", "eos")
    server = make_server([GenerationResult(BODY, "eos", alternatives=(other,))])
    open_app(server)
    items = inline(server, trigger=1)["result"]["items"]
    assert [item["insertText"] for item in items] == [BODY, other.text]
    sid = items[0]["command"]["arguments"][0]
    assert [item["command"]["arguments"] for item in items] == [[sid, 0], [sid, 1]]
    assert server.backend.requests[-1].candidates == 3
    server.client.notify("textDocument/didShowCompletion", {"item": items[1]})  # cycled to the second
    server.client.request("workspace/executeCommand", items[1]["command"])
    server.wait_for(lambda: server.events_named("accepted"))
    (accepted,) = server.events_named("accepted")
    assert (accepted["id"], accepted["candidate"], accepted["accepted_chars"]) == (sid, 1, len(other.text))
    (completion,) = server.events_named("completion")
    assert completion["candidates"] == 2 and completion["trigger"] == "invoked"


def test_commands_check_their_arguments(make_server):
    server = make_server()
    bad = server.client.request("workspace/executeCommand", {"command": "hearth.accepted", "arguments": [3]})
    assert bad["error"]["code"] == -32602
    restarted = server.client.request("workspace/executeCommand", {"command": "hearth.restartModel"})
    assert restarted["result"] is None


# -- chat ----------------------------------------------------------------------------------------


def test_chat_streams_and_keeps_the_conversation(make_server):
    server = make_server(["It adds\nthe values."])
    open_app(server)
    selection = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
    result = server.client.request("hearth/chat", {
        "messages": [{"role": "user", "content": "What does total do?"}], "textDocument": {"uri": URI},
        "range": selection})["result"]  # fmt: skip
    assert result["text"] == "It adds\nthe values."
    chunks = [n["params"]["text"] for n in server.client.notifications if n["method"] == "hearth/chatChunk"]
    assert "".join(chunks) == "It adds\nthe values."
    assert "def total(values):" in result["context"]
    request = server.backend.requests[-1]
    assert request.exclusive and request.prompt.endswith("<|im_start|>assistant\n")
    listed = server.client.request("hearth/conversations", {})["result"]["conversations"]
    assert [c["id"] for c in listed] == [result["conversationId"]]
    stored = server.client.request("hearth/conversation", {"id": result["conversationId"]})["result"]
    assert [m["role"] for m in stored["messages"]] == ["user", "assistant"]
    assert server.client.request("hearth/deleteConversation", {"id": result["conversationId"]})["result"] == {
        "deleted": True}  # fmt: skip
    assert (
        server.client.request("hearth/conversation", {"id": result["conversationId"]})["error"]["code"]
        == -32602
    )


def test_chat_and_edits_take_their_own_model_when_the_settings_name_one(make_server):
    # `hearth serve --chat-backend llamacpp --chat-endpoint URL`: completions stay on the local model.
    chat_engine = Settings(chat_backend="llamacpp", chat_endpoint="http://engine:8080")
    server = make_server([BODY], settings=chat_engine)
    server.chat_backend.outputs = ["From the engine."]
    open_app(server)
    answer = server.client.request("hearth/chat", {"messages": [{"role": "user", "content": "Why?"}]})[
        "result"
    ]
    assert answer["text"] == "From the engine." and server.chat_backend.requests[-1].exclusive
    assert inline(server)["result"]["items"]  # the completion came from the local model
    assert server.backend.requests and not any(r.exclusive for r in server.backend.requests)
    status = server.client.request("hearth/status", {})["result"]
    assert "chatModel" in status and status["chatModel"]["state"] == "ready"
    # Chat settings cleared: chat is the completion model again, and the engine's is let go.
    server.client.notify(
        "workspace/didChangeConfiguration", {"settings": {"chatBackend": "", "chatEndpoint": ""}}
    )
    server.wait_for(lambda: "chatModel" not in server.client.request("hearth/status", {})["result"])
    server.backend.outputs = ["From the local model."]
    again = server.client.request("hearth/chat", {"messages": [{"role": "user", "content": "And?"}]})[
        "result"
    ]
    assert again["text"] == "From the local model."


def test_a_chat_without_a_question_is_invalid_params(make_server):
    server = make_server()
    assert server.client.request("hearth/chat", {"messages": []})["error"]["code"] == -32602


# -- edits ---------------------------------------------------------------------------------------


def test_edit_reaches_the_editor_for_review_and_undo_restores_it(make_server, tmp_path):
    root = copy_project(tmp_path / "project")
    server = make_server(capabilities=CAPABILITIES, root=root)
    editor = DiskEditor(server.client)  # type: ignore[arg-type]
    before = (root / "shelf" / "models.py").read_bytes()
    result = server.client.request("workspace/executeCommand", {"command": "hearth.edit", "arguments": [
        {"instruction": "rename total_value to inventory_value"}]}, timeout=60)["result"]  # fmt: skip
    assert result["applied"] is True and result["via"] == "rename"
    (edit,) = editor.edits
    annotations = edit["changeAnnotations"]
    assert annotations and all(a["needsConfirmation"] for a in annotations.values())
    assert "def inventory_value(items):" in (root / "shelf" / "models.py").read_text()
    undo = {"command": "hearth.undoEdit", "arguments": [result["checkpoint"]]}
    undone = server.client.request("workspace/executeCommand", undo)
    assert undone["result"]["undone"] is True
    assert (root / "shelf" / "models.py").read_bytes() == before
    assert server.backend.requests == []  # the rename needs no model


def test_edit_without_an_instruction_is_invalid_params(make_server, tmp_path):
    server = make_server(root=copy_project(tmp_path / "project"))
    response = server.client.request(
        "workspace/executeCommand", {"command": "hearth.edit", "arguments": [{}]}
    )
    assert response["error"]["code"] == -32602


# -- what Hearth knows ---------------------------------------------------------------------------


def test_context_reports_what_the_last_prompt_carried(make_server):
    server = make_server([BODY])
    helper = "def scale(values, factor):\n    return [v * factor for v in values]\n"
    filler = "".join(f"value_{i} = {i}\n" for i in range(400))  # the helper lies outside the code window
    source = helper + filler + SOURCE + "        scaled = scale(\n"
    open_app(server, source)
    inline(server, {"line": source.count("\n") - 1, "character": 23})
    context = server.client.request("hearth/context", {"uri": URI})["result"]
    assert context["uri"] == URI and context["tokens"] > 0
    assert any(
        p["source"] == "definition" and "def scale(values, factor)" in p["text"] for p in context["parts"]
    )
    assert "def scale(values, factor)" in server.backend.requests[-1].prompt
    assert server.client.request("hearth/context", {})["error"]["code"] == -32602


def test_repo_map_without_a_workspace_is_empty_and_checks_its_budget(make_server):
    server = make_server()
    assert server.client.request("hearth/repoMap", {"budget": 100})["result"] == {"map": "", "ready": False}
    assert server.client.request("hearth/repoMap", {"budget": -1})["error"]["code"] == -32602


def test_status_reports_the_model_and_the_documents(make_server):
    server = make_server([BODY])
    open_app(server)
    inline(server)
    status = server.client.request("hearth/status", {})["result"]
    assert status["model"]["state"] == "ready" and status["documents"] == 1
    assert status["totals"]["completion"] == 1 and status["totals"]["outcome:shown"] == 1
    assert [e["event"] for e in status["recent"]] == ["completion"]


def test_every_request_gets_exactly_one_response(make_server):
    server = make_server([BODY] * 5)
    open_app(server)
    ids = [server.client.inline_completion(URI, END, 1) for _ in range(5)]
    ids.append(server.client.request_nowait("hearth/status", {}))
    for msg_id in ids:
        server.client.wait(msg_id, timeout=30)
    time.sleep(0.2)
    assert all(server.client.response_counts[msg_id] == 1 for msg_id in ids)


# -- the typed custom protocol ---------------------------------------------------------------------


def test_custom_params_are_checked_by_their_message_class_and_never_coerced(make_server):
    server = make_server()
    request = server.client.request
    # A number where a string belongs, a string where a number belongs, a role that does not exist.
    assert request("hearth/context", {"uri": 5})["error"]["code"] == -32602
    assert request("hearth/conversations", {"limit": "5"})["error"]["code"] == -32602
    assert request("hearth/conversations", {"limit": True})["error"]["code"] == -32602
    bad_role = {"messages": [{"role": "root", "content": "hi"}]}
    assert request("hearth/chat", bad_role)["error"]["code"] == -32602
    # Methods whose params are all optional answer without any.
    assert request("hearth/status")["result"]["documents"] == 0
    assert request("hearth/conversations")["result"] == {"conversations": []}
    assert request("hearth/repoMap")["result"] == {"map": "", "ready": False}


def test_an_acceptance_report_with_unusable_params_is_dropped_and_the_server_still_answers(make_server):
    server = make_server([BODY])
    open_app(server)
    item = inline(server)["result"]["items"][0]
    server.client.notify("textDocument/didPartiallyAcceptCompletion", {"item": item, "acceptedLength": -1})
    server.client.notify("textDocument/didPartiallyAcceptCompletion", {"item": item, "acceptedLength": "4"})
    server.client.notify("textDocument/didShowCompletion", {"item": item})
    server.wait_for(lambda: server.events_named("shown"))
    assert server.events_named("accepted") == []
    assert server.client.request("hearth/status")["result"]["documents"] == 1


def test_every_registered_method_and_command_is_exercised_here():
    """A method added to the composition root without a test here fails this."""
    from pathlib import Path

    from hearth.lsp.server import COMMANDS, FEATURES

    text = Path(__file__).read_text()
    # Sent by the client helpers (initialize, open_document, insert, close_document, inline_completion).
    helpers = {"initialize", "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
               "textDocument/inlineCompletion"}  # fmt: skip
    names = [method for method, _options, _handler in FEATURES] + [name for name, _handler in COMMANDS]
    missing = [name for name in names if name not in helpers and f'"{name}"' not in text]
    assert missing == []


def _errors_shown(server) -> list[str]:
    return [
        n["params"]["message"]
        for n in server.client.notifications
        if n["method"] == "window/showMessage" and n["params"]["type"] == 1
    ]


def test_a_model_failure_is_announced_once_unless_the_client_shows_model_status_itself(make_server):
    missing = {"model": "no-such-model-anywhere"}
    plain = make_server(options=missing)
    assert plain.wait_for(lambda: _errors_shown(plain))
    assert plain.client.request("hearth/status")["result"]["model"]["state"] == "failed"
    plain.client.request("workspace/executeCommand", {"command": "hearth.restartModel"})
    assert plain.client.request("hearth/status")["result"]["model"]["state"] == "failed"
    assert len(_errors_shown(plain)) == 1  # the same failure again is not a new message

    capabilities = {
        "window": {"workDoneProgress": True},
        "experimental": {"hearth": {"showsModelStatus": True}},
    }
    own = make_server(options=missing, capabilities=capabilities)
    assert own.client.request("hearth/status")["result"]["model"]["state"] == "failed"
    own.client.request("workspace/executeCommand", {"command": "hearth.restartModel"})
    # Every message the server sent so far has arrived before this answer.
    own.client.request("hearth/status")
    assert _errors_shown(own) == []
