/**
 * What the status bar says: the server process, the model, the filter and the last latency,
 * folded into one text and tooltip. No vscode import.
 */

export type ServerPhase = "starting" | "running" | "crashed" | "stopped";
export type ModelPhase = "unknown" | "starting" | "loading" | "ready" | "restarting" | "failed" | "stopped";

export interface StatusState {
  server: ServerPhase;
  model: ModelPhase;
  modelName: string;
  message: string;
  enabled: boolean;
  filter: boolean;
  lastLatencyMs: number | undefined;
}

export interface StatusView {
  text: string;
  tooltip: string;
  error: boolean;
}

export const INITIAL: StatusState = {
  server: "starting",
  model: "unknown",
  modelName: "",
  message: "",
  enabled: true,
  filter: true,
  lastLatencyMs: undefined,
};

export function modelPhase(value: unknown): ModelPhase {
  const phases: readonly ModelPhase[] = ["starting", "loading", "ready", "restarting", "failed", "stopped"];
  return phases.find((phase) => phase === value) ?? "unknown";
}

export function render(state: StatusState): StatusView {
  const filter = `filter ${state.filter ? "on" : "off"}`;
  if (state.server === "crashed") {
    return { text: "$(error) Hearth", tooltip: `The Hearth server stopped: ${state.message}. Click for options.`, error: true };
  }
  if (state.server === "starting" || state.server === "stopped") {
    const tooltip = state.server === "starting" ? "Starting the Hearth server…" : "The Hearth server is stopped.";
    return { text: "$(loading~spin) Hearth", tooltip, error: false };
  }
  if (state.model === "failed") {
    return { text: "$(error) Hearth", tooltip: `Model error: ${state.message}`, error: true };
  }
  if (state.model !== "ready") {
    return { text: "$(loading~spin) Hearth", tooltip: `Loading the model ${state.modelName}…`.trim(), error: false };
  }
  if (!state.enabled) {
    return { text: "$(circle-slash) Hearth", tooltip: `Suggestions are off (${filter}). Click for options.`, error: false };
  }
  const latency = state.lastLatencyMs === undefined ? "" : ` ${Math.round(state.lastLatencyMs)} ms`;
  return {
    text: `$(flame) Hearth${latency}`,
    tooltip: `${state.modelName || "model"} ready, ${filter}. Click for options.`,
    error: false,
  };
}
