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
  /** The shared engine's URL; empty for the model in Hearth's own process. */
  engine: string;
  /** Why the engine cannot serve (the server's EngineProblem value), or empty. */
  problem: string;
  /** What generates now: local, llamacpp, openai or ollama. */
  backend: string;
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
  engine: "",
  problem: "",
  backend: "local",
};

const ENGINE_PROBLEMS: Record<string, string> = {
  unreachable: "unreachable",
  key_refused: "refused the API key",
  not_an_engine: "not an inference engine",
  loading: "still loading its model",
  engine_error: "reported an error",
};

/** The engine's problem in a few words, for the status bar's tooltip. */
export function engineProblem(state: StatusState): string {
  if (state.problem === "") {
    return "";
  }
  const what = ENGINE_PROBLEMS[state.problem] ?? state.problem;
  const where = state.engine === "" ? "" : ` ${state.engine}`;
  return `The engine${where} is ${what}`;
}

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
  if (state.model === "restarting" && state.problem !== "") {
    // An engine that served and went away: Hearth reconnects on its own; say so, not "loading".
    return { text: "$(warning) Hearth", tooltip: `${engineProblem(state)}; Hearth keeps trying. ${state.message}`.trim(), error: true };
  }
  if (state.model !== "ready") {
    return { text: "$(loading~spin) Hearth", tooltip: `Loading the model ${state.modelName}…`.trim(), error: false };
  }
  if (!state.enabled) {
    return { text: "$(circle-slash) Hearth", tooltip: `Suggestions are off (${filter}). Click for options.`, error: false };
  }
  const latency = state.lastLatencyMs === undefined ? "" : ` ${Math.round(state.lastLatencyMs)} ms`;
  if (state.problem !== "") {
    // The local model stands in while the engine cannot serve (remoteFallback).
    return {
      text: `$(warning) Hearth${latency}`,
      tooltip: `${engineProblem(state)}; the local model ${state.modelName} answers meanwhile, ${filter}.`,
      error: false,
    };
  }
  const where = state.engine === "" ? "" : ` on ${state.engine}`;
  return {
    text: `$(flame) Hearth${latency}`,
    tooltip: `${state.modelName || "model"}${where} ready, ${filter}. Click for options.`,
    error: false,
  };
}
