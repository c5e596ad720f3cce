/**
 * Entry point: the status bar, the commands, the chat view, and the server host.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as vscode from "vscode";

import { ChatView } from "./chatView";
import { INSTALL_COMMAND, advise, type Failure } from "./errors";
import { NEUTRAL_CWD, ServerHost, config } from "./host";
import { hearthCommand } from "./launch";
import { partialReport } from "./partial";
import {
  COMMANDS,
  METHODS,
  modelPicks,
  parseModelListing,
  type EditOptions,
  type EditResult,
  type UndoResult,
} from "./protocol";
import { affectsServer, needsRestart } from "./settings";

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Hearth");
  const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  item.command = "hearth.statusMenu";
  const host = new ServerHost(output, (failure) => void showFailure(host, failure));
  const chat = new ChatView(host);
  const paint = () => {
    const view = host.view();
    item.text = view.text;
    item.tooltip = view.tooltip;
    item.backgroundColor = view.error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  };
  context.subscriptions.push(output, item, host, chat, host.onDidChangeState(paint));
  paint();
  item.show();

  const commands: Record<string, (...args: unknown[]) => unknown> = {
    "hearth.toggle": () => config().update("enabled", !config().get<boolean>("enabled", true), vscode.ConfigurationTarget.Global),
    "hearth.restartServer": async () => {
      await host.restart();
      chat.attach();
    },
    "hearth.openLog": () => {
      output.show();
    },
    "hearth.pickModel": () => pickModel(host),
    "hearth.showStatistics": () => showStatistics(host),
    "hearth.statusMenu": () => statusMenu(),
    "hearth.editWithHearth": () => editWithHearth(host),
    "hearth.undoLastEdit": () => undoEdit(host, undefined),
    "hearth.acceptWord": () => acceptPart(host, "editor.action.inlineSuggest.acceptNextWord"),
    "hearth.acceptLine": () => acceptPart(host, "editor.action.inlineSuggest.acceptNextLine"),
  };
  for (const [name, run] of Object.entries(commands)) {
    context.subscriptions.push(vscode.commands.registerCommand(name, run));
  }
  context.subscriptions.push(
    vscode.window.registerWebviewViewProvider(ChatView.id, chat),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      const affects = (section: string) => event.affectsConfiguration(section);
      if (needsRestart(affects)) {
        await host.restart();
        chat.attach();
      } else if (affectsServer(affects)) {
        host.sendSettings();
      }
    }),
  );
  await host.start();
  chat.attach();
}

export function deactivate(): void {
  // Disposables registered on the context stop the server.
}

async function showFailure(host: ServerHost, failure: Failure): Promise<void> {
  const advice = advise(failure);
  const choice = await vscode.window.showErrorMessage(advice.message, ...advice.actions);
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "hearth.pythonPath");
  } else if (choice === "Copy Install Command") {
    await vscode.env.clipboard.writeText(`${host.python} -m ${INSTALL_COMMAND}`);
  } else if (choice === "Pick Model") {
    await vscode.commands.executeCommand("hearth.pickModel");
  } else if (choice === "Open Log") {
    await vscode.commands.executeCommand("hearth.openLog");
  } else if (choice === "Restart Server") {
    await vscode.commands.executeCommand("hearth.restartServer");
  }
}

async function statusMenu(): Promise<void> {
  const enabled = config().get<boolean>("enabled", true);
  const filter = config().get<boolean>("filter", true);
  const picks: (vscode.QuickPickItem & { run: () => Thenable<unknown> })[] = [
    { label: enabled ? "$(circle-slash) Turn suggestions off" : "$(check) Turn suggestions on", run: () => vscode.commands.executeCommand("hearth.toggle") },
    { label: filter ? "$(filter) Turn the acceptance filter off" : "$(filter) Turn the acceptance filter on", run: () => config().update("filter", !filter, vscode.ConfigurationTarget.Global) },
    { label: "$(database) Pick model…", run: () => vscode.commands.executeCommand("hearth.pickModel") },
    { label: "$(graph) Show statistics", run: () => vscode.commands.executeCommand("hearth.showStatistics") },
    { label: "$(output) Open log", run: () => vscode.commands.executeCommand("hearth.openLog") },
    { label: "$(debug-restart) Restart server", run: () => vscode.commands.executeCommand("hearth.restartServer") },
  ];
  const chosen = await vscode.window.showQuickPick(picks, { placeHolder: "Hearth" });
  await chosen?.run();
}

function run(python: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(python, hearthCommand(args), { timeout: 120_000, cwd: NEUTRAL_CWD }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(stderr || error.message));
      } else {
        resolve(stdout);
      }
    });
  });
}

async function pickModel(host: ServerHost): Promise<void> {
  const listing = parseModelListing(await run(host.python, ["models", "list", "--json"]).catch(() => ""));
  const picks = [
    { label: "Embedded default", description: "SmolLM2-135M, works offline", value: "" },
    ...modelPicks(listing),
    { label: "Choose a GGUF file…", description: "", value: "<file>" },
  ];
  const chosen = await vscode.window.showQuickPick(picks, { placeHolder: "Model for Hearth" });
  if (chosen === undefined) {
    return;
  }
  let value = chosen.value;
  if (value === "<file>") {
    const files = await vscode.window.showOpenDialog({ filters: { GGUF: ["gguf"] }, canSelectMany: false });
    if (files?.[0] === undefined) {
      return;
    }
    value = files[0].fsPath;
  }
  await config().update("model", value, vscode.ConfigurationTarget.Global);
}

async function showStatistics(host: ServerHost): Promise<void> {
  const file = join(mkdtempSync(join(tmpdir(), "hearth-stats-")), "report.html");
  try {
    await run(host.python, ["stats", "--html", file]);
  } catch (error) {
    void vscode.window.showErrorMessage(`Hearth could not build the statistics: ${String(error)}`);
    return;
  }
  const panel = vscode.window.createWebviewPanel("hearth.stats", "Hearth statistics", vscode.ViewColumn.Active, {});
  panel.webview.html = readFileSync(file, "utf-8");
}

async function editWithHearth(host: ServerHost): Promise<void> {
  const client = host.client;
  const editor = vscode.window.activeTextEditor;
  if (client === undefined) {
    void vscode.window.showErrorMessage("The Hearth server is not running.");
    return;
  }
  const instruction = await vscode.window.showInputBox({
    prompt: editor?.selection.isEmpty === false ? "Edit the selection with Hearth" : "Edit with Hearth",
    placeHolder: "add a timeout parameter to fetch() and update its callers",
  });
  if (!instruction) {
    return;
  }
  const options: EditOptions = { instruction };
  if (editor !== undefined) {
    options.textDocument = { uri: editor.document.uri.toString() };
    options.range = client.code2ProtocolConverter.asRange(editor.selection);
  }
  const result = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: "Hearth is editing…", cancellable: true },
    (_progress, token) =>
      client.sendRequest<EditResult>(
        "workspace/executeCommand",
        { command: COMMANDS.edit, arguments: [options] },
        token,
      ),
  );
  if (!result.applied) {
    void vscode.window.showWarningMessage(`Hearth: ${result.message}`);
    return;
  }
  const choice = await vscode.window.showInformationMessage(`Hearth: ${result.message}`, "Undo");
  if (choice === "Undo") {
    await undoEdit(host, result.checkpoint);
  }
}

async function undoEdit(host: ServerHost, checkpoint: string | undefined): Promise<void> {
  const result = await host.client?.sendRequest<UndoResult>("workspace/executeCommand", {
    command: COMMANDS.undoEdit,
    arguments: checkpoint === undefined ? [] : [checkpoint],
  });
  if (result !== undefined && !result.undone) {
    void vscode.window.showWarningMessage(`Hearth: ${result.message ?? "nothing to undo"}`);
  }
}

async function acceptPart(host: ServerHost, command: string): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const before = editor?.document.getText() ?? "";
  await vscode.commands.executeCommand(command);
  const shown = host.shown;
  if (editor === undefined || shown?.uri !== editor.document.uri.toString()) {
    return;
  }
  const report = partialReport(shown, before, editor.document.getText());
  if (report !== undefined) {
    shown.accepted = report.acceptedLength;
    await host.client?.sendNotification(METHODS.didPartiallyAccept, report);
  }
}
