/**
 * Starts `hearth serve` with the user's Python, keeps it running (bounded restarts), forwards
 * settings, watches the model's state for the status bar, and remembers the suggestion on
 * screen so partial accepts can be reported.
 */
import { execFile } from "node:child_process";
import * as vscode from "vscode";
import {
  CloseAction,
  ErrorAction,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type ClientCapabilities,
  type FeatureState,
  type LanguageClientOptions,
  type ServerOptions,
  type StaticFeature,
} from "vscode-languageclient/node";

import { RestartPolicy, advise, classifyProbe, type Failure } from "./errors";
import { PROBE_ARGS, hearthCommand, userValue } from "./launch";
import type { ShownItem } from "./partial";
import { METHODS, type ClientExtensions, type StatusParams, type StatusResult } from "./protocol";
import { MACHINE_KEYS, serverSettings } from "./settings";
import { INITIAL, modelPhase, render, type StatusState } from "./status";

const STATUS_POLL_MS = 2000;

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration("hearth");
}

/** A setting as the server gets it: machine-level ones from the user's settings only. */
export function readSetting(key: string): unknown {
  return MACHINE_KEYS.includes(key) ? userValue(config().inspect(key), undefined) : config().get(key);
}

/**
 * The user's own hearth.pythonPath, else python3 on the PATH. Never the Python extension's
 * interpreter and never a workspace value: a repository can choose those.
 */
export function resolvePython(): string {
  const configured = userValue(config().inspect<string>("pythonPath"), "").trim();
  if (configured) {
    return configured;
  }
  return process.platform === "win32" ? "python" : "python3";
}

/** Where Hearth's processes start: the extension's own folder, never the workspace. */
export const NEUTRAL_CWD = __dirname;

export function probe(python: string): Promise<Failure | null> {
  return new Promise((resolve) => {
    execFile(python, [...PROBE_ARGS], { timeout: 30_000, cwd: NEUTRAL_CWD }, (error, _stdout, stderr) => {
      resolve(classifyProbe(python, error as { code?: unknown } | null, stderr));
    });
  });
}

export class ServerHost implements vscode.Disposable {
  client: LanguageClient | undefined;
  python = "python3";
  state: StatusState = { ...INITIAL };
  shown: ShownItem | undefined;
  private readonly policy = new RestartPolicy(4, 180_000);
  private timer: NodeJS.Timeout | undefined;
  private lastModelError = "";
  private readonly changed = new vscode.EventEmitter<StatusState>();
  readonly onDidChangeState = this.changed.event;

  constructor(
    private readonly output: vscode.OutputChannel,
    private readonly showAdvice: (failure: Failure) => void,
  ) {}

  private update(change: Partial<StatusState>): void {
    this.state = { ...this.state, ...change };
    this.changed.fire(this.state);
  }

  async start(): Promise<void> {
    const settings = config();
    this.update({ server: "starting", enabled: settings.get<boolean>("enabled", true), filter: settings.get<boolean>("filter", true) });
    this.python = resolvePython();
    const failure = await probe(this.python);
    if (failure !== null) {
      this.update({ server: "crashed", message: advise(failure).message });
      this.showAdvice(failure);
      return;
    }
    const serverOptions: ServerOptions = {
      command: this.python,
      args: hearthCommand(["serve", ...userValue(settings.inspect<string[]>("serverArgs"), [])]),
      options: { cwd: NEUTRAL_CWD },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      initializationOptions: serverSettings(readSetting),
      outputChannel: this.output,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          if (this.policy.crashed()) {
            this.update({ server: "starting", model: "unknown" });
            return { action: CloseAction.Restart };
          }
          const crashed: Failure = { kind: "crashed", restarts: this.policy.count - 1 };
          this.update({ server: "crashed", message: advise(crashed).message });
          this.showAdvice(crashed);
          return { action: CloseAction.DoNotRestart, handled: true };
        },
      },
      middleware: {
        provideInlineCompletionItems: async (document, position, context, token, next) => {
          const started = Date.now();
          const result = await next(document, position, context, token);
          const items = Array.isArray(result) ? result : result?.items ?? [];
          const candidates = items.flatMap((item) =>
            typeof item.insertText === "string"
              ? [{ insertText: item.insertText, command: item.command === undefined ? undefined : { title: item.command.title, command: item.command.command, arguments: item.command.arguments ?? [] } }]
              : [],
          );
          if (candidates.length > 0) {
            this.update({ lastLatencyMs: Date.now() - started });
            this.shown = { uri: document.uri.toString(), offset: document.offsetAt(position), candidates, accepted: 0 };
          }
          return result;
        },
      },
    };
    const client = new LanguageClient("hearth", "Hearth", serverOptions, clientOptions);
    client.registerProposedFeatures();
    client.registerFeature(new HearthExtensions());
    client.onDidChangeState((event) => {
      if (event.newState === State.Running) {
        this.update({ server: "running" });
      } else if (event.newState === State.Stopped && this.state.server !== "crashed") {
        this.update({ server: "stopped" });
      }
    });
    this.client = client;
    try {
      await client.start();
    } catch (error) {
      this.update({ server: "crashed", message: String(error) });
      this.showAdvice({ kind: "crashed", restarts: this.policy.count });
      return;
    }
    this.timer ??= setInterval(() => void this.poll(), STATUS_POLL_MS);
    void this.poll();
  }

  /** Server settings go live; the process restarts only for pythonPath or serverArgs. */
  sendSettings(): void {
    const settings = config();
    this.update({ enabled: settings.get<boolean>("enabled", true), filter: settings.get<boolean>("filter", true) });
    void this.client?.sendNotification("workspace/didChangeConfiguration", {
      settings: serverSettings(readSetting),
    });
  }

  async restart(): Promise<void> {
    this.policy.reset();
    await this.stop();
    await this.start();
  }

  private async poll(): Promise<void> {
    const client = this.client;
    if (client?.state !== State.Running) {
      return;
    }
    try {
      const status = await client.sendRequest<StatusResult>(METHODS.status, {} satisfies StatusParams);
      const model = modelPhase(status.model.state);
      this.update({
        model,
        modelName: status.model.name,
        message: status.model.message,
        engine: status.model.engine ?? "",
        problem: status.model.problem ?? "",
        backend: status.model.backend ?? "local",
      });
      if (model === "failed" && status.model.message !== this.lastModelError) {
        this.lastModelError = status.model.message;
        this.showAdvice({ kind: "model-missing", message: status.model.message });
      }
    } catch {
      // The next poll tries again; a dead server is reported by the error handler.
    }
  }

  view(): ReturnType<typeof render> {
    return render(this.state);
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client !== undefined && client.state !== State.Stopped) {
      await client.stop(5000).catch(() => undefined);
    }
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
    }
    void this.stop();
    this.changed.dispose();
  }
}

/**
 * Tells the server at initialize that this client shows model status and failures itself
 * (the status bar and its advice), so the server does not announce a failure a second time.
 */
class HearthExtensions implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    const hearth: ClientExtensions = { showsModelStatus: true };
    capabilities.experimental = { ...(capabilities.experimental as object | undefined), hearth };
  }

  initialize(): void {}

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {}
}
