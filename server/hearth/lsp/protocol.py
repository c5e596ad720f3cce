"""JSON-RPC rules pygls leaves out: every request gets exactly one response.

- Before `initialize`, requests get ServerNotInitialized (-32002); after
  `shutdown`, InvalidRequest (-32600). Notifications then are dropped,
  except `exit`.
- Params that do not fit the method's type get InvalidParams (-32602)
  rather than silence, for LSP's methods and Hearth's own (`messages.py`)
  alike; strings, numbers and booleans are never coerced into each other.
- `exit` ends the serving loop (the transport returns the exit code) rather
  than calling sys.exit inside a callback.
- Document sync is handled by Hearth's own store, not pygls's workspace copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import cattrs
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import LanguageServerProtocol, lsp_method

from hearth.lsp.messages import MESSAGE_TYPES

log = logging.getLogger(__name__)

T = TypeVar("T")

_OPEN_BEFORE_INIT = {types.INITIALIZE, types.EXIT}


class HearthProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initialized = False
        self.exit_code: int | None = None
        self.on_exit: Callable[[int], None] = lambda code: None
        strict_primitives(self._converter)

    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        return MESSAGE_TYPES.get(method) or super().get_message_type(method)

    def structure_params(self, value: Any, cls: type[T]) -> T:
        """Plain JSON as one of Hearth's message classes, by the same rules as a request's params."""
        return self._converter.structure(value, cls)

    # -- entry from the transport ------------------------------------------

    def receive(self, message: Any) -> None:
        """Handle one decoded JSON value from the client."""
        if not isinstance(message, dict):
            log.warning("ignoring a JSON value that is not an object: %s", type(message).__name__)
            return
        msg_id = message.get("id")
        method = message.get("method")
        is_request = isinstance(method, str) and isinstance(msg_id, int | str)
        if message.get("jsonrpc") != "2.0" or (method is not None and not isinstance(method, str)):
            if isinstance(msg_id, int | str):
                self.reply_error(msg_id, JsonRpcInvalidRequest("not a JSON-RPC 2.0 message"))
            return
        if is_request and not self._allowed(str(method), msg_id):  # type: ignore[arg-type]
            return
        if not is_request and isinstance(method, str) and not self._notification_allowed(method):
            return
        if method in MESSAGE_TYPES and message.get("params") is None:
            # Omitted and null params mean the same; Hearth's classes give the defaults.
            message = {k: v for k, v in message.items() if k != "params"}
        try:
            structured = self.structure_message(message)
        except JsonRpcException as exc:
            if is_request:
                assert isinstance(msg_id, int | str)
                self.reply_error(msg_id, JsonRpcInvalidParams(f"invalid params for {method}"))
            else:
                # The error's text quotes the params (document text among them): never at WARNING.
                log.warning("dropping %s with invalid params", method)
                log.debug("invalid %s: %s", method, exc)
            return
        self.handle_message(structured)

    def reply_parse_error(self, msg_id: int | str, reason: str) -> None:
        self.reply_error(msg_id, JsonRpcParseError(f"garbled frame: {reason}"))

    def reply_error(self, msg_id: int | str, error: JsonRpcException) -> None:
        self._send_response(msg_id, error=error.to_response_error())

    def _allowed(self, method: str, msg_id: int | str) -> bool:
        if self._shutdown:
            self.reply_error(msg_id, JsonRpcInvalidRequest("server is shutting down"))
            return False
        if not self.initialized and method not in _OPEN_BEFORE_INIT:
            self.reply_error(msg_id, JsonRpcServerNotInitialized("server not initialized"))
            return False
        if self.initialized and method == types.INITIALIZE:
            self.reply_error(msg_id, JsonRpcInvalidRequest("initialize was already called"))
            return False
        return True

    def _notification_allowed(self, method: str) -> bool:
        if method == types.EXIT:
            return True
        return self.initialized and not self._shutdown

    # -- lifecycle -----------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        self.initialized = True
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        self.exit_code = 0 if self._shutdown else 1
        self.on_exit(self.exit_code)

    # -- document sync: Hearth's DocumentStore is the one copy -----------------

    def _user_handler(self, method: str, params: Any) -> Generator[Any, Any, None]:
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(
        self, params: types.DidOpenTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(
        self, params: types.DidChangeTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(
        self, params: types.DidCloseTextDocumentParams
    ) -> Generator[Any, Any, None]:
        yield from self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)


def strict_primitives(converter: cattrs.Converter) -> None:
    """cattrs turns 5 into "5" and "1" into 1 by default; a protocol must not guess."""

    def exact(kind: type[Any]) -> Callable[[Any, type[Any]], Any]:
        def structure(value: Any, _type: type[Any]) -> Any:
            if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
                raise TypeError(f"expected {kind.__name__}, got {type(value).__name__}")
            return value

        return structure

    def number(value: Any, _type: type[Any]) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"expected a number, got {type(value).__name__}")
        return float(value)

    for kind in (str, int, bool):
        converter.register_structure_hook(kind, exact(kind))
    converter.register_structure_hook(float, number)
