"""`hearth chat`: the same chat as the editor's, in a terminal.

The answer streams as it is generated. Ctrl-C while it is generating stops
the answer and returns to the prompt; Ctrl-C or Ctrl-D at the prompt quits.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from hearth.agent.chat import ChatRequest, ChatService, ChatTurn
from hearth.agent.context import Focus
from hearth.agent.conversations import CONVERSATIONS_FILE, ConversationStore, Message
from hearth.commands.complete import UsageError, language_for, workspace_index
from hearth.config import Settings
from hearth.model.backend import ModelBusy, ModelUnavailable
from hearth.model.manager import ModelManager, chat_settings, ready_model
from hearth.paths import data_dir


def _focus(path: str | None) -> Focus | None:
    if path is None:
        return None
    file = Path(path)
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}") from exc
    return Focus(file.name, language_for(file), text, 0, 0)


def run_chat(
    settings: Settings,
    message: str | None,
    resume: str | None,
    list_only: bool,
    file: str | None,
    out: TextIO = sys.stdout,
) -> int:
    store = ConversationStore(data_dir() / CONVERSATIONS_FILE)
    if list_only:
        for stored in store.list():
            print(f"{stored.id}  {stored.title}", file=out)
        return 0
    if resume is not None and store.get(resume) is None:
        print(f"hearth chat: no conversation {resume!r} (see: hearth chat --list)", file=sys.stderr)
        return 2
    try:
        focus = _focus(file)
    except UsageError as exc:
        print(f"hearth chat: {exc}", file=sys.stderr)
        return 2
    try:
        with ready_model(chat_settings(settings) or settings, data_dir()) as manager:
            return _session(manager, store, settings, message, resume, focus, out)
    except ModelUnavailable as exc:
        print(f"hearth chat: model not ready: {exc}", file=sys.stderr)
        return 1


def _session(
    manager: ModelManager,
    store: ConversationStore,
    settings: Settings,
    message: str | None,
    resume: str | None,
    focus: Focus | None,
    out: TextIO,
) -> int:
    index = workspace_index(Path.cwd())
    service = ChatService(manager, store, lambda: settings, index=lambda: index)
    conversation = resume
    questions = [message] if message is not None else None
    while True:
        if questions is not None:
            if not questions:
                return 0
            question = questions.pop(0)
        else:
            try:
                question = input("you> ")
            except (EOFError, KeyboardInterrupt):
                print(file=out)
                return 0
        if not question.strip():
            continue
        conversation = _ask(service, ChatRequest((Message("user", question),), conversation, focus), out)
        focus = None  # the file was shown once; the history carries it


def _write(out: TextIO, text: str) -> None:
    out.write(text)
    out.flush()


BUSY_WAIT_S = 30.0
"""After a Ctrl-C, the stopped answer may still hold the model for a token: the next question waits."""


def _start(service: ChatService, request: ChatRequest, out: TextIO) -> ChatTurn | None:
    waited = 0.0
    while True:
        try:
            return service.start(request, lambda text: _write(out, text))
        except ModelBusy:
            if waited >= BUSY_WAIT_S:
                print("hearth chat: the model is still busy with the stopped answer", file=sys.stderr)
                return None
            time.sleep(0.1)
            waited += 0.1
        except (ValueError, ModelUnavailable) as exc:
            print(f"hearth chat: {exc}", file=sys.stderr)
            return None


def _ask(service: ChatService, request: ChatRequest, out: TextIO) -> str | None:
    # While a question is out, Ctrl-C only sets a flag: raised as KeyboardInterrupt it could land
    # anywhere (inside start(), after the answer began streaming) and quit instead of stopping.
    interrupted = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: interrupted.set())
    try:
        turn = _start(service, request, out)
        if turn is None:
            return request.conversation_id
        done = threading.Event()
        turn.future.add_done_callback(lambda _future: done.set())
        while not done.wait(0.1):
            if interrupted.is_set():
                turn.cancel()
                done.wait(10)
                print("\n[stopped]", file=out)
                break
    finally:
        signal.signal(signal.SIGINT, previous)
    future = turn.future
    finished = future.done() and not future.cancelled() and future.exception() is None
    if finished and future.result().stop_reason == "repetition":
        # The stream already showed the start of the second copy; the stored answer has one.
        print("\n[stopped: the answer began to repeat itself]", file=out)
    print(file=out)
    return turn.conversation_id
