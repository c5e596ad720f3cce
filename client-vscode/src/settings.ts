/**
 * The extension's settings and the server's, one to one: every `hearth.*` setting in
 * package.json except the client's own (how to start the server) is sent to `hearth serve`
 * under the same camelCase name. No vscode import: unit-tested as plain code.
 */
import manifest from "../package.json";

/** Settings that only decide how the server process is started. */
export const CLIENT_KEYS: readonly string[] = ["pythonPath", "serverArgs"];

const PREFIX = "hearth.";

export const SERVER_KEYS: readonly string[] = Object.keys(manifest.contributes.configuration.properties)
  .map((key) => key.slice(PREFIX.length))
  .filter((key) => !CLIENT_KEYS.includes(key));

/** Settings that name an executable or a command: only the user's own value counts. */
export const MACHINE_KEYS: readonly string[] = Object.entries(manifest.contributes.configuration.properties)
  .filter(([, property]) => (property as { scope?: string }).scope === "machine")
  .map(([key]) => key.slice(PREFIX.length));

export type Reader = (key: string) => unknown;

/** The server's settings object, as `initializationOptions` and `didChangeConfiguration` carry it. */
export function serverSettings(read: Reader): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const value = read(key);
    if (value !== undefined) {
      settings[key] = value;
    }
  }
  return settings;
}

/** A changed client setting needs a new server process; server settings are sent live. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return CLIENT_KEYS.some((key) => affects(PREFIX + key));
}

export function affectsServer(affects: (section: string) => boolean): boolean {
  return SERVER_KEYS.some((key) => affects(PREFIX + key));
}
