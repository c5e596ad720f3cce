/**
 * Start-up and runtime failures in words a user can act on, each with the buttons to offer.
 * No vscode import.
 */

export type Failure =
  | { kind: "python-missing"; python: string }
  | { kind: "hearth-missing"; python: string }
  | { kind: "model-missing"; message: string }
  | { kind: "crashed"; restarts: number };

export interface Advice {
  message: string;
  actions: string[];
}

export const INSTALL_COMMAND = "pip install hearth";

export function advise(failure: Failure): Advice {
  switch (failure.kind) {
    case "python-missing":
      return {
        message: `Hearth could not run Python (${failure.python}). Install Python 3.11 or newer, or set "hearth.pythonPath".`,
        actions: ["Open Settings"],
      };
    case "hearth-missing":
      return {
        message: `Hearth is not installed for ${failure.python}. Install it with: ${failure.python} -m ${INSTALL_COMMAND}`,
        actions: ["Copy Install Command", "Open Settings"],
      };
    case "model-missing":
      return {
        message: `Hearth's model is unavailable: ${failure.message}. Pick another model, or download one with: hearth models pull qwen2.5-coder-0.5b`,
        actions: ["Pick Model", "Open Log"],
      };
    case "crashed":
      return {
        message: `The Hearth server crashed ${failure.restarts} times and was not restarted again.`,
        actions: ["Open Log", "Restart Server"],
      };
  }
}

/** What a failed `python -c "import hearth"` says about the set-up. */
export function classifyProbe(python: string, error: { code?: unknown } | null, stderr: string): Failure | null {
  if (error === null) {
    return null;
  }
  if (error.code === "ENOENT" || error.code === "EACCES") {
    return { kind: "python-missing", python };
  }
  if (stderr.includes("No module named") || stderr.includes("ModuleNotFoundError")) {
    return { kind: "hearth-missing", python };
  }
  return { kind: "python-missing", python };
}

/** Bounded restarts: at most `limit` crashes within `windowMs`, then stay down and say why. */
export class RestartPolicy {
  private crashes: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get count(): number {
    return this.crashes.length;
  }

  crashed(): boolean {
    const now = this.now();
    this.crashes = this.crashes.filter((at) => now - at < this.windowMs);
    this.crashes.push(now);
    return this.crashes.length <= this.limit;
  }

  reset(): void {
    this.crashes = [];
  }
}
