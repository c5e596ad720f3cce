/**
 * Every shape the server side produces or accepts, declared once for the extension: the model
 * catalog as `hearth models list --json` prints it (the model picker reads it; never the human
 * text), and each custom request, notification and command of Hearth's protocol. No vscode import.
 */

export interface CatalogModel {
  name: string;
  description: string;
  format: string;
  licence: string;
  embedded: boolean;
  /** Where the file is on this machine; null when it has not been downloaded. */
  path: string | null;
}

export interface ModelListing {
  models: CatalogModel[];
}

/** The listing, or an empty one when the output is not what `--json` prints. */
export function parseModelListing(stdout: string): ModelListing {
  try {
    const parsed: unknown = JSON.parse(stdout);
    const models = (parsed as { models?: unknown }).models;
    if (!Array.isArray(models)) {
      return { models: [] };
    }
    return {
      models: models.filter(
        (m): m is CatalogModel => typeof m === "object" && m !== null && typeof (m as CatalogModel).name === "string",
      ),
    };
  } catch {
    return { models: [] };
  }
}

export interface ModelPick {
  label: string;
  description: string;
  value: string;
}

/** Quick-pick entries: the embedded default (value ""), then every other catalog model. */
export function modelPicks(listing: ModelListing): ModelPick[] {
  return listing.models
    .filter((m) => !m.embedded)
    .map((m) => ({
      label: m.name,
      description: m.path === null ? `${m.description} (hearth models pull ${m.name})` : m.description,
      value: m.name,
    }));
}

// -- Hearth's custom protocol: the same classes as server/hearth/lsp/messages.py, field for field.
// tests/unit/test_protocol_contract.py fails when the two sides differ.

export const METHODS = {
  chat: "hearth/chat",
  chatChunk: "hearth/chatChunk",
  conversations: "hearth/conversations",
  conversation: "hearth/conversation",
  deleteConversation: "hearth/deleteConversation",
  status: "hearth/status",
  context: "hearth/context",
  repoMap: "hearth/repoMap",
  didShow: "textDocument/didShowCompletion",
  didPartiallyAccept: "textDocument/didPartiallyAcceptCompletion",
} as const;

export const COMMANDS = {
  accepted: "hearth.accepted",
  restartModel: "hearth.restartModel",
  edit: "hearth.edit",
  undoEdit: "hearth.undoEdit",
} as const;

export interface LspPosition {
  line: number;
  character: number;
}

export interface LspRange {
  start: LspPosition;
  end: LspPosition;
}

export interface ChatMessage {
  role: "user" | "assistant" | "system";
  content: string;
}

export interface DocumentRef {
  uri: string;
}

export interface ChatParams {
  messages: ChatMessage[];
  conversationId?: string;
  textDocument?: DocumentRef;
  range?: LspRange;
  workDoneToken?: number | string;
  streamId?: number | string;
}

export interface ChatResult {
  conversationId: string;
  text: string;
  stopReason: string;
  generatedTokens: number;
  context: string;
}

export interface ChatChunk {
  conversationId: string;
  text: string;
  streamId?: number | string;
  token?: number | string;
}

export interface ConversationsParams {
  limit?: number;
}

export interface ConversationSummary {
  id: string;
  title: string;
  updated: number;
}

export interface ConversationsResult {
  conversations: ConversationSummary[];
}

export interface ConversationParams {
  id: string;
}

export interface ConversationResult {
  id: string;
  title: string;
  messages: ChatMessage[];
}

export interface DeleteConversationResult {
  deleted: boolean;
}

export type StatusParams = Record<string, never>;

export interface PromptProgressInfo {
  evaluatedTokens: number;
  promptTokens: number;
}

export interface ModelInfo {
  state: string;
  message: string;
  path: string;
  name: string;
  promptFormat: string;
  loadSeconds: number | null;
  restarts: number;
  workerPid: number | null;
  evaluating?: PromptProgressInfo;
  engine?: string;
  problem?: string;
  backend?: string;
  chatTemplate?: string;
}

export interface StatusResult {
  model: ModelInfo;
  documents: number;
  exactTokenCounts: boolean;
  positionEncoding: string;
  settingsProblems: string[];
  recent: Record<string, unknown>[];
  totals: Record<string, number>;
  chatModel?: ModelInfo;
}

export interface ContextParams {
  uri: string;
}

export interface ContextPart {
  source: string;
  label: string;
  tokens: number;
  text: string;
}

export interface IndexCounts {
  files: number;
  symbols: number;
  refs: number;
}

export interface ContextResult {
  uri: string;
  tokens: number;
  parts: ContextPart[];
  index?: IndexCounts;
}

export interface RepoMapParams {
  budget?: number;
}

export interface RepoMapResult {
  map: string;
  ready: boolean;
}

export interface SuggestionCommand {
  command?: string;
  title?: string;
  arguments?: unknown[];
}

export interface ShownItem {
  insertText?: string;
  command?: SuggestionCommand;
}

export interface DidShowParams {
  item: ShownItem;
}

export interface DidPartiallyAcceptParams {
  item: ShownItem;
  acceptedLength: number;
}

export interface EditOptions {
  instruction: string;
  uris?: string[];
  textDocument?: DocumentRef;
  range?: LspRange;
}

export interface EditResult {
  applied: boolean;
  message: string;
  checkpoint?: string;
  diff?: string;
  via?: string;
  attempts?: number;
  /** The checks the applied edit passed (syntax, names, references, tests). */
  checks?: string[];
}

export interface UndoResult {
  undone: boolean;
  message?: string;
  checkpoint?: string;
  diff?: string;
}

/** Sent in `capabilities.experimental.hearth` at initialize. */
export interface ClientExtensions {
  /** The client shows the model's state and failures itself; the server sends no message for them. */
  showsModelStatus?: boolean;
}
