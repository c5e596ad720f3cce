"""The `hearth` command: argument parsing only; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from typing import Any

from hearth import __version__
from hearth.config import BACKENDS, Settings, parse_settings
from hearth.logs import setup_logging
from hearth.safepath import isolate

LATENCY_MODES = ("typing", "typed-along", "revisit", "scope-switch", "after-accept")
"""What `hearth bench latency` can measure (hearth.bench.latency, imported only when it runs)."""


def _settings(args: argparse.Namespace) -> tuple[Settings, dict[str, Any]]:
    raw: dict[str, Any] = {}
    if getattr(args, "model", None):
        raw["model"] = args.model
    if getattr(args, "threads", None) is not None:
        raw["threads"] = args.threads
    if getattr(args, "max_tokens", None) is not None:
        raw["maxTokens"] = args.max_tokens
    for flag, key in (("backend", "backend"), ("endpoint", "endpoint"), ("remote_model", "remoteModel"),
                      ("api_key_env", "apiKeyEnv"), ("api_key_file", "apiKeyFile"),
                      ("chat_backend", "chatBackend"), ("chat_endpoint", "chatEndpoint"),
                      ("chat_model", "chatModel")):  # fmt: skip
        if getattr(args, flag, None):
            raw[key] = getattr(args, flag)
    settings, problems = parse_settings(raw)
    for problem in problems:
        print(f"hearth: {problem}", file=sys.stderr)
    return settings, raw


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="catalog name or path to a GGUF file")
    parser.add_argument("--threads", type=int, help="CPU threads for the model (0: auto)")
    parser.add_argument("--max-tokens", type=int, help="most tokens generated per suggestion")
    parser.add_argument(
        "--backend", choices=BACKENDS, help="local (default), or an engine: llamacpp, openai, ollama"
    )
    parser.add_argument("--endpoint", help="the shared engine's URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--remote-model", help="the name the engine serves its model under")
    parser.add_argument("--api-key-env", help="environment variable that holds the engine's API key")
    parser.add_argument("--api-key-file", help="file (chmod 600) that holds the engine's API key")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hearth", description="On-device AI code assistant.")
    parser.add_argument("--version", action="version", version=f"hearth {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--log-file", help="write logs to this file instead of stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    # Editors append their extra arguments after `serve` (hearth.serverArgs): logging works there too.
    serve.add_argument("--log-level", default=argparse.SUPPRESS, help="DEBUG, INFO, WARNING, ERROR")
    serve.add_argument("--log-file", default=argparse.SUPPRESS, help="write logs to this file")
    serve.add_argument("--stdio", action="store_true", help="speak LSP over stdio (default)")
    serve.add_argument("--tcp", metavar="HOST:PORT",
                       help="listen for one client on TCP (loopback; the client sends a token)")  # fmt: skip
    serve.add_argument("--allow-remote", action="store_true",
                       help="with --tcp: allow an address other machines can reach")  # fmt: skip
    serve.add_argument("--token-file", help="with --tcp: write the token here (default: in the data dir)")
    _model_options(serve)
    serve.add_argument(
        "--chat-backend", choices=BACKENDS, help="chat and edits on another backend than completions"
    )
    serve.add_argument("--chat-endpoint", help="that backend's engine URL (default: --endpoint)")
    serve.add_argument(
        "--chat-model", help="the chat and edit model (catalog name, GGUF path or engine's name)"
    )

    complete = sub.add_parser("complete", help="print the suggestion at FILE:LINE:COL")
    complete.add_argument("location", help="FILE:LINE:COL, 1-based; COL omitted: end of line")
    complete.add_argument("--json", action="store_true", help="print suggestion and timings")
    _model_options(complete)

    context = sub.add_parser("context", help="print what the model would see at FILE:LINE:COL, part by part")
    context.add_argument("location", help="FILE:LINE:COL, 1-based; COL omitted: end of line")
    context.add_argument("--json", action="store_true")
    context.add_argument("--model", help="catalog name or path to a GGUF file (its tokenizer counts tokens)")

    doctor = sub.add_parser("doctor", help="check the installation and measure the model")
    doctor.add_argument("--no-measure", action="store_true", help="skip loading the model")
    _model_options(doctor)

    models = sub.add_parser("models", help="list or download models")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    listing = models_sub.add_parser("list", help="the catalog, and which models are on this machine")
    listing.add_argument("--json", action="store_true", help="one JSON object (the editor's picker)")
    pull = models_sub.add_parser("pull", help="download a catalog model (uses the network)")
    pull.add_argument("name")
    pull.add_argument("--allow-unverified", action="store_true",
                      help="take a file even when no sha256 is known for it")  # fmt: skip

    chat = sub.add_parser("chat", help="ask the model about your code, in the terminal")
    chat.add_argument("-m", "--message", help="ask one question, print the answer and exit")
    chat.add_argument("--resume", metavar="ID", help="continue a stored conversation")
    chat.add_argument("--list", action="store_true", help="list stored conversations")
    chat.add_argument("--file", help="show this file to the model with the first question")
    _model_options(chat)

    edit = sub.add_parser("edit", help="change code by instruction; prints a diff, writes with --apply")
    edit.add_argument("instruction")
    edit.add_argument(
        "paths", nargs="*", help="files the edit is about (default: found from the instruction)"
    )
    edit.add_argument("--apply", action="store_true", help="write the changes (all files or none)")
    edit.add_argument("--root", help="workspace folder (default: the current directory)")
    edit.add_argument(
        "--test-command", help='run this on a copy after each draft, e.g. "python -m pytest -q"'
    )
    _model_options(edit)
    undo = sub.add_parser("undo", help="put back the files an applied edit changed")
    undo.add_argument("checkpoint", nargs="?", help="checkpoint id (default: the latest in this workspace)")
    undo.add_argument("--root", help="workspace folder (default: the current directory)")

    bench = sub.add_parser("bench", help="benchmarks that print figures")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    latency = bench_sub.add_parser("latency", help="replay typing through the server over stdio")
    latency.add_argument("file", nargs="?", help="source file to type (default: a stdlib module)")
    latency.add_argument("--points", type=int, default=8, help="places in the file to type at")
    latency.add_argument("--keystrokes", type=int, default=6, help="keystrokes typed per place")
    latency.add_argument("--mode", action="append", choices=LATENCY_MODES,
                         help="what to measure (repeatable; default: all)")  # fmt: skip
    latency.add_argument("--json", action="store_true")
    _model_options(latency)
    context = bench_sub.add_parser("context", help="index build, context extraction and update timings")
    context.add_argument("repo", help="a source tree (100k+ lines for meaningful figures)")
    context.add_argument("--samples", type=int, default=200, help="cursor positions to extract at")
    context.add_argument("--seed", type=int, default=1)
    context.add_argument("--json", action="store_true")
    completion = bench_sub.add_parser("completion", help="masked-code quality with and without context")
    completion.add_argument("repo", help="a Python source tree")
    completion.add_argument("--per-level", type=int, default=20, help="targets per level")
    completion.add_argument("--seed", type=int, default=1)
    completion.add_argument("--json", action="store_true")
    humaneval = bench_sub.add_parser("humaneval", help="HumanEval through the server, and raw")
    humaneval.add_argument("--limit", type=int, help="only the first N problems")
    humaneval.add_argument("--json", action="store_true")
    edits = bench_sub.add_parser("edits", help="edit tasks on a small real project, with checks")
    edits.add_argument("--no-grammar", action="store_true", help="drafts without the grammar (to compare)")
    edits.add_argument("--no-name-check", action="store_true",
                       help="without the pyflakes check of drafts (to measure what it catches)")  # fmt: skip
    edits.add_argument("--no-lookup", action="store_true",
                       help="without lookup decoding of drafts (to measure what it buys)")  # fmt: skip
    edits.add_argument("--no-interface-check", action="store_true",
                       help="drafts without the imports-and-calls check (to compare)")  # fmt: skip
    edits.add_argument("--tests", action="store_true",
                       help="the agent runs the project's own tests (pytest) on each draft")  # fmt: skip
    edits.add_argument("--only", help="only tasks whose name contains this")
    edits.add_argument("--json", action="store_true")
    _model_options(edits)
    shared = bench_sub.add_parser(
        "shared-engine", help="developers typing at once on one engine, and each locally"
    )
    shared.add_argument("path", help="a directory of source files to re-type")
    shared.add_argument("--files", default="*", help="glob of files to type, relative to PATH")
    shared.add_argument("--developers", type=int, default=4, help="simulated developers at once (default 4)")
    shared.add_argument("--tasks-each", type=int, default=3, help="spans each developer re-types")
    shared.add_argument("--seed", type=int, default=1)
    shared.add_argument("--cps", type=float, default=6.0, help="typing speed, characters per second")
    shared.add_argument("--no-local", action="store_true", help="skip the run with a local model each")
    shared.add_argument("--json", action="store_true")
    _model_options(shared)
    replay = bench_sub.add_parser("replay", help="a simulated developer re-types real code")
    replay.add_argument("path", help="a directory (or git repository) of source files")
    replay.add_argument("--files", default="*", help="glob of files to type, relative to PATH")
    replay.add_argument("--commits", metavar="RANGE", help="type the lines added by these commits")
    replay.add_argument("--seed", type=int, default=1)
    replay.add_argument("--tasks", type=int, default=12, help="spans to re-type (files mode)")
    replay.add_argument("--cps", type=float, default=6.0, help="typing speed, characters per second")
    replay.add_argument(
        "--modes",
        default="hearth,naive",
        help="comma list of hearth, nofilter, noreuse, naive (default: hearth,naive)",
    )
    replay.add_argument("--top-down", type=int, metavar="LINES",
                        help="write files from their first LINES lines instead of spans")  # fmt: skip
    replay.add_argument("--baseline", choices=["naive"], help="add the naive baseline (same as in --modes)")
    replay.add_argument("--json", action="store_true")
    replay.add_argument("--html", metavar="FILE")
    _model_options(replay)

    stats = sub.add_parser("stats", help="what suggestions did for you, from the local database")
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--html", metavar="FILE", help="also write a report with plots")
    stats.add_argument("--days", type=float, help="only the last N days")

    filt = sub.add_parser("filter", help="the learned acceptance filter")
    filt_sub = filt.add_subparsers(dest="filter_command", required=True)
    train = filt_sub.add_parser("train", help="fit the filter from the local database")
    train.add_argument("--max-char-loss", type=float, default=0.1,
                       help="share of accepted characters the filter may lose (default 0.1)")  # fmt: skip
    train.add_argument("--force", action="store_true", help="install even if not better")
    train.add_argument("--json", action="store_true")
    filt_sub.add_parser("status", help="which filter is in use")

    telemetry = sub.add_parser("telemetry", help="the local telemetry database")
    telemetry_sub = telemetry.add_subparsers(dest="telemetry_command", required=True)
    export = telemetry_sub.add_parser("export", help="print every event as JSON lines")
    export.add_argument("--out", help="write to this file")
    telemetry_sub.add_parser("wipe", help="delete every event")
    return parser


def entry() -> int:
    """The `hearth` console script: the working directory leaves sys.path first."""
    isolate()
    return main()


def main(argv: list[str] | None = None) -> int:
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # `hearth telemetry export | head`: the reader is gone, which is not an error. Point
        # stdout at /dev/null so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_file)
    settings, raw = _settings(args)
    if args.command == "serve":
        from hearth.commands.serve import run_stdio, run_tcp

        if args.tcp:
            host, _, port = args.tcp.rpartition(":")
            return run_tcp(host or "127.0.0.1", int(port), raw, args.allow_remote, args.token_file)
        return run_stdio(raw)
    if args.command == "complete":
        from hearth.commands.complete import run_complete

        return run_complete(args.location, settings, args.json)
    if args.command == "context":
        from hearth.commands.complete import run_context

        return run_context(args.location, settings, args.json)
    if args.command == "chat":
        from hearth.commands.chat import run_chat

        return run_chat(settings, args.message, args.resume, args.list, args.file)
    if args.command == "edit":
        from hearth.commands.edit import run_edit

        if args.test_command:
            settings = replace(settings, agent_test_command=args.test_command)
        return run_edit(settings, args.instruction, args.paths, args.apply, args.root)
    if args.command == "undo":
        from hearth.commands.edit import run_undo

        return run_undo(args.checkpoint, args.root)
    if args.command == "doctor":
        from hearth.commands.doctor import run_doctor

        return run_doctor(settings, measure=not args.no_measure)
    if args.command == "models":
        return _models(args)
    if args.command == "bench" and args.bench_command == "replay":
        return _replay(args, raw)
    if args.command == "bench" and args.bench_command == "shared-engine":
        from pathlib import Path

        from hearth.bench.shared import run_shared_engine

        engine = {"backend": "llamacpp", **raw}  # an endpoint alone means llama.cpp's server
        return run_shared_engine(
            Path(args.path), args.files, args.developers, args.tasks_each, engine, args.seed, args.cps,
            args.json, local_too=not args.no_local,
        )  # fmt: skip
    if args.command == "bench" and args.bench_command == "edits":
        from hearth.bench.edits import EditChecks, run_edits_bench

        checks = EditChecks(
            grammar=not args.no_grammar, names=not args.no_name_check, lookup=not args.no_lookup,
            interfaces=not args.no_interface_check, tests=args.tests,
        )  # fmt: skip
        return run_edits_bench(settings, checks, args.only, args.json)
    if args.command == "bench" and args.bench_command == "humaneval":
        from hearth.bench.humaneval import run_humaneval_bench

        return run_humaneval_bench(args.limit, args.json)
    if args.command == "bench" and args.bench_command == "completion":
        from hearth.bench.completion import run_completion_bench

        return run_completion_bench(args.repo, args.per_level, args.seed, args.json)
    if args.command == "bench" and args.bench_command == "context":
        from hearth.bench.context import run_context_bench

        return run_context_bench(args.repo, args.samples, args.seed, args.json)
    if args.command == "bench":
        from hearth.bench.latency import run_latency_bench

        modes = tuple(args.mode) if args.mode else LATENCY_MODES
        return run_latency_bench(args.file, args.points, args.keystrokes, raw, args.json, modes)
    if args.command in ("stats", "filter", "telemetry"):
        return _telemetry(args)
    return 2


def _replay(args: argparse.Namespace, raw: dict[str, Any]) -> int:
    import random
    from pathlib import Path

    from hearth.bench.developer import tasks_from_commits, tasks_from_files, tasks_top_down
    from hearth.bench.replay import MODES, run_replay

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.baseline and args.baseline not in modes:
        modes.append(args.baseline)
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        print(
            f"hearth: unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}", file=sys.stderr
        )
        return 2
    root = Path(args.path)
    if args.top_down:
        tasks = tasks_top_down(root, args.files, random.Random(args.seed), args.tasks, args.top_down)
    elif args.commits:
        tasks = tasks_from_commits(root, args.commits, args.files)
    else:
        tasks = tasks_from_files(root, args.files, random.Random(args.seed), args.tasks)
    return run_replay(
        root, tasks, modes, raw, args.seed, args.cps, args.json, args.html, top_down=bool(args.top_down)
    )


def _telemetry(args: argparse.Namespace) -> int:
    from hearth.paths import data_dir
    from hearth_telemetry import commands

    directory = data_dir()
    if args.command == "stats":
        return commands.run_stats(directory, args.json, args.html, args.days)
    if args.command == "filter":
        if args.filter_command == "train":
            return commands.run_filter_train(directory, args.max_char_loss, args.force, args.json)
        return commands.run_filter_status(directory)
    if args.telemetry_command == "export":
        return commands.run_export(directory, args.out)
    return commands.run_wipe(directory)


def _models(args: argparse.Namespace) -> int:
    from hearth.model.catalog import entry_path, find_entry, load_catalog
    from hearth.paths import data_dir

    directory = data_dir()
    if args.models_command == "list" and args.json:
        models = []
        for entry in load_catalog():
            found = entry_path(entry, directory)
            models.append({"name": entry.name, "description": entry.description, "format": entry.format,
                           "licence": entry.licence, "embedded": bool(entry.package),
                           "path": str(found[0]) if found else None})  # fmt: skip
        print(json.dumps({"models": models}, indent=2))
        return 0
    if args.models_command == "list":
        for entry in load_catalog():
            found = entry_path(entry, directory)
            where = found[1] if found else "not downloaded"
            print(f"{entry.name:<24} {entry.format:<8} {entry.licence:<11} {where}")
            print(f"  {entry.description}")
        return 0
    from hearth.model.pull import PullError, pull

    wanted = find_entry(args.name)
    if wanted is None:
        print(f"hearth: no catalog model named {args.name!r} (see: hearth models list)",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        path = pull(wanted, directory, allow_unverified=args.allow_unverified)
    except PullError as exc:
        print(f"hearth: {exc}", file=sys.stderr)
        return 1
    print(f"{wanted.name}: {path}")
    return 0
