/**
 * Partial accepts (next word, next line) of the suggestion on screen, reported to the server
 * as `textDocument/didPartiallyAcceptCompletion` with the characters taken so far. No vscode import.
 */

import type { DidPartiallyAcceptParams } from "./protocol";

export interface Candidate {
  insertText: string;
  command: { title: string; command: string; arguments?: unknown[] } | undefined;
}

/** The suggestions of the last answer; the editor cycles through them (Alt+] / Alt+[). */
export interface ShownItem {
  uri: string;
  offset: number;
  candidates: Candidate[];
  /** Characters of the suggestion already taken by earlier partial accepts. */
  accepted: number;
}

/**
 * The report after an accept-word/line command changed the document from `before` to `after`,
 * or undefined when nothing of the suggestion went in. Its item is the candidate the text taken
 * belongs to (the first that starts with it), so the server knows which one was on screen.
 */
export function partialReport(item: ShownItem, before: string, after: string): DidPartiallyAcceptParams | undefined {
  const inserted = after.length - before.length;
  if (inserted <= 0) {
    return undefined;
  }
  const taken = after.slice(item.offset, item.offset + item.accepted + inserted);
  const candidate = item.candidates.find((c) => c.insertText.startsWith(taken));
  if (candidate === undefined) {
    return undefined;
  }
  const shown = candidate.command === undefined ? { insertText: candidate.insertText } : { insertText: candidate.insertText, command: candidate.command };
  return { item: shown, acceptedLength: taken.length };
}
