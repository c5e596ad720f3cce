/**
 * Partial accepts (next word, next line) of the suggestion on screen, reported to the server
 * as `textDocument/didPartiallyAcceptCompletion` with the characters taken so far. No vscode import.
 */

import type { DidPartiallyAcceptParams } from "./protocol";

export interface ShownItem {
  uri: string;
  offset: number;
  insertText: string;
  command: { title: string; command: string; arguments?: unknown[] } | undefined;
  /** Characters of the suggestion already taken by earlier partial accepts. */
  accepted: number;
}


/**
 * The report after an accept-word/line command changed the document from `before` to `after`,
 * or undefined when nothing of the suggestion went in.
 */
export function partialReport(item: ShownItem, before: string, after: string): DidPartiallyAcceptParams | undefined {
  const inserted = after.length - before.length;
  if (inserted <= 0) {
    return undefined;
  }
  const taken = after.slice(item.offset, item.offset + item.accepted + inserted);
  if (!item.insertText.startsWith(taken)) {
    return undefined;
  }
  const shown = item.command === undefined ? { insertText: item.insertText } : { insertText: item.insertText, command: item.command };
  return { item: shown, acceptedLength: taken.length };
}
