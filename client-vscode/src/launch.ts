/**
 * How the extension starts every Hearth process so that nothing in the workspace runs: Python's
 * `-P` keeps the working directory off `sys.path` (a workspace `hearth/` or `jedi.py` would
 * otherwise be imported), the working directory is the extension's own folder, and the settings
 * that name an executable are read from the user's own settings only. No vscode import.
 */

/** Python 3.11+: do not prepend the working directory (or the script's) to sys.path. */
export const PYTHON_FLAGS: readonly string[] = ["-P"];

export function hearthCommand(args: readonly string[]): string[] {
  return [...PYTHON_FLAGS, "-m", "hearth", ...args];
}

export const PROBE_ARGS: readonly string[] = [...PYTHON_FLAGS, "-c", "import hearth"];

/** What `WorkspaceConfiguration.inspect` returns, as far as it matters here. */
export interface Inspected<T> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** The user's (machine-level) value of a setting; workspace and folder values never count. */
export function userValue<T>(inspected: Inspected<T> | undefined, fallback: T): T {
  return inspected?.globalValue ?? inspected?.defaultValue ?? fallback;
}
