import assert from "node:assert/strict";
import { test } from "node:test";

import manifest from "../package.json";
import { RestartPolicy, advise, classifyProbe } from "../src/errors";
import { partialReport, type ShownItem } from "../src/partial";
import { modelPicks, parseModelListing } from "../src/protocol";
import { PROBE_ARGS, hearthCommand, userValue } from "../src/launch";
import { CLIENT_KEYS, MACHINE_KEYS, SERVER_KEYS, affectsServer, needsRestart, serverSettings } from "../src/settings";
import { INITIAL, modelPhase, render } from "../src/status";

void test("every contributed setting but the client's own goes to the server, under its own name", () => {
  const all = Object.keys(manifest.contributes.configuration.properties).map((k) => k.replace("hearth.", ""));
  assert.deepEqual([...SERVER_KEYS, ...CLIENT_KEYS].sort(), all.sort());
  const values: Record<string, unknown> = { model: "qwen2.5-coder-0.5b", threads: 4, filterThreshold: 0.3, pythonPath: "/x" };
  const sent = serverSettings((key) => values[key]);
  assert.deepEqual(sent, { model: "qwen2.5-coder-0.5b", threads: 4, filterThreshold: 0.3 });
  assert.ok(!("pythonPath" in sent));
});

void test("only how the server starts needs a restart; server settings go live", () => {
  assert.equal(needsRestart((s) => s === "hearth.pythonPath"), true);
  assert.equal(needsRestart((s) => s === "hearth.model"), false);
  assert.equal(affectsServer((s) => s === "hearth.model"), true);
  assert.equal(affectsServer((s) => s === "editor.fontSize"), false);
});

void test("status bar: each phase has its text, errors are marked", () => {
  assert.match(render(INITIAL).text, /loading/);
  const ready = { ...INITIAL, server: "running" as const, model: "ready" as const, modelName: "smollm2", lastLatencyMs: 131.6 };
  assert.equal(render(ready).text, "$(flame) Hearth 132 ms");
  assert.match(render(ready).tooltip, /smollm2 ready, filter on/);
  assert.match(render({ ...ready, filter: false }).tooltip, /filter off/);
  assert.equal(render({ ...ready, enabled: false }).text, "$(circle-slash) Hearth");
  const failed = render({ ...ready, model: "failed", message: "no such file" });
  assert.ok(failed.error && failed.tooltip.includes("no such file"));
  assert.ok(render({ ...ready, server: "crashed", message: "exit 1" }).error);
  const onEngine = { ...ready, engine: "http://gpu:8080", backend: "llamacpp", modelName: "qwen2.5-coder-7b" };
  assert.match(render(onEngine).tooltip, /qwen2.5-coder-7b on http:\/\/gpu:8080 ready/);
  // Lost after serving: a warning that says what is wrong and that Hearth reconnects.
  const lost = render({ ...onEngine, model: "restarting", problem: "unreachable", message: "connection refused" });
  assert.equal(lost.text, "$(warning) Hearth");
  assert.match(lost.tooltip, /engine http:\/\/gpu:8080 is unreachable; Hearth keeps trying/);
  assert.match(render({ ...onEngine, model: "restarting", problem: "key_refused" }).tooltip, /refused the API key/);
  // The local model standing in: ready, and the tooltip says why it is the local one.
  const standIn = render({ ...onEngine, backend: "local", modelName: "smollm2", problem: "unreachable" });
  assert.equal(standIn.text, "$(warning) Hearth 132 ms");
  assert.match(standIn.tooltip, /unreachable; the local model smollm2 answers meanwhile/);
  assert.equal(modelPhase("ready"), "ready");
  assert.equal(modelPhase("bogus"), "unknown");
});

void test("errors say what to do", () => {
  assert.deepEqual(classifyProbe("python3", { code: "ENOENT" }, ""), { kind: "python-missing", python: "python3" });
  const missing = classifyProbe("/usr/bin/python3", { code: 1 }, "ModuleNotFoundError: No module named 'hearth'");
  assert.deepEqual(missing, { kind: "hearth-missing", python: "/usr/bin/python3" });
  assert.equal(classifyProbe("python3", null, ""), null);
  assert.match(advise({ kind: "hearth-missing", python: "/usr/bin/python3" }).message, /\/usr\/bin\/python3 -m pip install hearth/);
  assert.match(advise({ kind: "model-missing", message: "x" }).message, /hearth models pull/);
  assert.deepEqual(advise({ kind: "crashed", restarts: 4 }).actions, ["Open Log", "Restart Server"]);
});

void test("restarts are bounded within a window", () => {
  let now = 0;
  const policy = new RestartPolicy(3, 60_000, () => now);
  assert.deepEqual([policy.crashed(), policy.crashed(), policy.crashed(), policy.crashed()], [true, true, true, false]);
  now = 120_000;
  assert.equal(policy.crashed(), true);
});

void test("partial accepts report the characters taken so far", () => {
  const item: ShownItem = { uri: "file:///a.py", offset: 4, candidates: [{ insertText: "return total\n", command: undefined }], accepted: 0 };
  const first = partialReport(item, "def ", "def return");
  assert.equal(first?.acceptedLength, 6);
  const second = partialReport({ ...item, accepted: 6 }, "def return", "def return total");
  assert.equal(second?.acceptedLength, 12);
  assert.equal(partialReport(item, "def ", "def x"), undefined);
  assert.equal(partialReport(item, "def return", "def "), undefined);
});

void test("a partial accept names the candidate cycled to, by the text taken", () => {
  const command = (n: number) => ({ title: "t", command: "hearth.accepted", arguments: ["s1", n] });
  const item: ShownItem = {
    uri: "file:///a.py", offset: 0, accepted: 0,
    candidates: [{ insertText: "total = 1", command: command(0) }, { insertText: "return total", command: command(1) }],
  };
  const report = partialReport(item, "", "return ");
  assert.deepEqual(report, { item: { insertText: "return total", command: command(1) }, acceptedLength: 7 });
});

void test("every Hearth process starts with -P, so the working directory is never on sys.path", () => {
  assert.deepEqual(hearthCommand(["serve", "--log-level", "DEBUG"]), ["-P", "-m", "hearth", "serve", "--log-level", "DEBUG"]);
  assert.deepEqual(PROBE_ARGS.slice(0, 1), ["-P"]);
});

void test("settings that name executables or say where code goes are machine-scoped and read from the user's settings only", () => {
  assert.deepEqual([...MACHINE_KEYS].sort(), [
    "agentTestCommand", "apiKeyEnv", "apiKeyFile", "backend", "chatBackend", "chatEndpoint", "endpoint",
    "pythonPath", "serverArgs", "tlsVerify",
  ]);
  const inspected = { defaultValue: "", globalValue: "/usr/bin/python3", workspaceValue: "./evil/python", workspaceFolderValue: "./evil/python" };
  assert.equal(userValue(inspected, ""), "/usr/bin/python3");
  assert.equal(userValue({ defaultValue: "", workspaceValue: "./evil/python" }, ""), "");
  assert.equal(userValue(undefined, "python3"), "python3");
  assert.equal((manifest as { capabilities?: { untrustedWorkspaces?: { supported?: unknown } } }).capabilities?.untrustedWorkspaces?.supported, false);
});

void test("the model picker reads the --json listing, never the human text", () => {
  const listing = parseModelListing(JSON.stringify({ models: [
    { name: "smollm2-135m-instruct", description: "Embedded", format: "prefix", licence: "Apache-2.0", embedded: true, path: "/x.gguf" },
    { name: "qwen2.5-coder-0.5b", description: "Small", format: "fim-psm", licence: "Apache-2.0", embedded: false, path: null },
  ] }));
  assert.deepEqual(modelPicks(listing), [
    { label: "qwen2.5-coder-0.5b", description: "Small (hearth models pull qwen2.5-coder-0.5b)", value: "qwen2.5-coder-0.5b" },
  ]);
  assert.deepEqual(parseModelListing("smollm2-135m-instruct prefix Apache-2.0"), { models: [] });
});
