/**
 * The chat view: a webview that streams `hearth/chat` answers (the `hearth/chatChunk`
 * notifications for its stream), stops them, and lists and resumes stored conversations.
 */
import { randomUUID } from "node:crypto";
import * as vscode from "vscode";

import type { ServerHost } from "./host";
import {
  METHODS,
  type ChatChunk,
  type ChatParams,
  type ChatResult,
  type ConversationParams,
  type ConversationResult,
  type ConversationsParams,
  type ConversationsResult,
} from "./protocol";

type FromView =
  | { type: "send"; text: string; withSelection: boolean }
  | { type: "stop" }
  | { type: "new" }
  | { type: "load"; id: string }
  | { type: "ready" };

export class ChatView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly id = "hearth.chat";
  private view: vscode.WebviewView | undefined;
  private conversationId: string | undefined;
  private streamId: string | undefined;
  private running: vscode.CancellationTokenSource | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly host: ServerHost) {}

  /** Called once the language client runs: chunks arrive as notifications. */
  attach(): void {
    const client = this.host.client;
    if (client === undefined) {
      return;
    }
    this.subscriptions.push(
      client.onNotification(METHODS.chatChunk, (chunk: ChatChunk) => {
        if (chunk.streamId !== undefined && chunk.streamId === this.streamId) {
          void this.view?.webview.postMessage({ type: "chunk", text: chunk.text });
        }
      }),
    );
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    view.webview.options = { enableScripts: true };
    view.webview.html = page(randomUUID().replace(/-/g, ""));
    view.webview.onDidReceiveMessage((message: FromView) => void this.receive(message), undefined, this.subscriptions);
  }

  private async receive(message: FromView): Promise<void> {
    const client = this.host.client;
    const post = (data: object) => void this.view?.webview.postMessage(data);
    if (message.type === "stop") {
      this.running?.cancel();
      return;
    }
    if (message.type === "new") {
      this.conversationId = undefined;
      return;
    }
    if (client === undefined) {
      post({ type: "error", message: "The Hearth server is not running." });
      return;
    }
    if (message.type === "ready") {
      const list = await client.sendRequest<ConversationsResult>(METHODS.conversations, {} satisfies ConversationsParams);
      post({ type: "conversations", items: list.conversations });
      return;
    }
    if (message.type === "load") {
      const found = await client.sendRequest<ConversationResult>(METHODS.conversation, { id: message.id } satisfies ConversationParams);
      this.conversationId = message.id;
      post({ type: "history", messages: found.messages });
      return;
    }
    const editor = vscode.window.activeTextEditor;
    const params: ChatParams = {
      messages: [{ role: "user", content: message.text }],
      streamId: (this.streamId = randomUUID()),
    };
    if (this.conversationId !== undefined) {
      params.conversationId = this.conversationId;
    }
    if (editor !== undefined && message.withSelection) {
      params.textDocument = { uri: editor.document.uri.toString() };
      params.range = client.code2ProtocolConverter.asRange(editor.selection);
    }
    this.running?.cancel();
    const running = (this.running = new vscode.CancellationTokenSource());
    try {
      const answer = await client.sendRequest<ChatResult>(METHODS.chat, params, running.token);
      this.conversationId = answer.conversationId;
      post({ type: "done", text: answer.text });
    } catch (error) {
      post({ type: running.token.isCancellationRequested ? "stopped" : "error", message: String(error) });
    }
  }

  dispose(): void {
    this.running?.cancel();
    for (const subscription of this.subscriptions) {
      subscription.dispose();
    }
  }
}

function page(nonce: string): string {
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}';">
<style>
body { font-family: var(--vscode-font-family); color: var(--vscode-foreground); padding: 0 8px; }
#log { white-space: pre-wrap; font-family: var(--vscode-editor-font-family); }
.user { color: var(--vscode-textLink-foreground); margin-top: 8px; }
.assistant { margin-bottom: 8px; }
textarea { width: 100%; box-sizing: border-box; min-height: 4em; background: var(--vscode-input-background); color: var(--vscode-input-foreground); }
.row { display: flex; gap: 4px; margin: 4px 0; align-items: center; }
select { flex: 1; }
</style></head>
<body>
<div class="row"><select id="history"><option value="">Conversations…</option></select><button id="new">New</button></div>
<div id="log"></div>
<textarea id="input" placeholder="Ask about your code (Ctrl+Enter sends)"></textarea>
<div class="row"><label><input type="checkbox" id="selection" checked> include selection</label>
<button id="send">Send</button><button id="stop" disabled>Stop</button></div>
<script nonce="${nonce}">
const vscode = acquireVsCodeApi();
const log = document.getElementById("log"), input = document.getElementById("input");
const send = document.getElementById("send"), stop = document.getElementById("stop");
let answer = null;
function add(role, text) { const div = document.createElement("div"); div.className = role; div.textContent = text; log.appendChild(div); return div; }
function busy(on) { send.disabled = on; stop.disabled = !on; }
function ask() {
  const text = input.value.trim(); if (!text) return;
  add("user", text); answer = add("assistant", ""); input.value = ""; busy(true);
  vscode.postMessage({ type: "send", text, withSelection: document.getElementById("selection").checked });
}
send.onclick = ask;
input.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) ask(); });
stop.onclick = () => vscode.postMessage({ type: "stop" });
document.getElementById("new").onclick = () => { log.textContent = ""; vscode.postMessage({ type: "new" }); };
document.getElementById("history").onchange = (e) => { if (e.target.value) vscode.postMessage({ type: "load", id: e.target.value }); };
window.addEventListener("message", ({ data }) => {
  if (data.type === "chunk" && answer) answer.textContent += data.text;
  else if (data.type === "done") { if (answer) answer.textContent = data.text; busy(false); }
  else if (data.type === "stopped") { if (answer) answer.textContent += " [stopped]"; busy(false); }
  else if (data.type === "error") { add("assistant", "Error: " + data.message); busy(false); }
  else if (data.type === "history") { log.textContent = ""; for (const m of data.messages) add(m.role, m.content); }
  else if (data.type === "conversations") {
    const select = document.getElementById("history");
    for (const c of data.items) { const o = document.createElement("option"); o.value = c.id; o.textContent = c.title; select.appendChild(o); }
  }
});
vscode.postMessage({ type: "ready" });
</script></body></html>`;
}
