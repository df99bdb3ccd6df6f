"""`ragapp ask | documents | settings | bench`: the library from the command line, for scripts."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from ragapp.documents import DECLINED
from ragapp.ingestion import UsageError
from ragapp.models import ModelNotFoundError
from ragapp.settings import Settings, SettingsError
from ragapp.store import Filter, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragapp", description="Ask questions of your own documents, locally.")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $RAGAPP_CONFIG or ./ragapp.toml)")
    commands = parser.add_subparsers(dest="command", required=True)

    ask = commands.add_parser("ask", help="answer a question from the stored documents, with sources")
    ask.add_argument("question")
    ask.add_argument("--collection", help="collection to search (default: the collection setting)")
    ask.add_argument(
        "--filter", action="append", default=[], metavar="KIND=VALUE",
        help="search only some documents: doc=PATH, folder=FOLDER or type=EXTENSION (pdf, md, txt); "
        "repeat to allow several (values of one kind are alternatives, kinds combine)",
    )
    ask.add_argument(
        "--follows", metavar="QUERY",
        help="the previous question of a conversation (its \"query\" in --json): a follow-up such as "
        "'and for contractors?' is searched with it",
    )
    ask.add_argument(
        "--json", action="store_true",
        help='print {"answer", "query", "refused", "path", "withheld", "citations", "related", "timings"}',
    )

    docs = commands.add_parser("documents", help="list the ingested documents of a collection")
    docs.add_argument("--collection")

    commands.add_parser("settings", help="print the settings in force")

    bench = commands.add_parser("bench", help="measure ingest, retrieval and generation speed on a folder")
    bench.add_argument("path", type=Path, help="folder of documents to measure with")
    bench.add_argument("--queries", type=int, default=50, help="retrieval queries to time (default 50)")
    bench.add_argument("--generations", type=int, default=3, help="generation runs to time (default 3)")
    bench.add_argument(
        "--scale", type=int, action="append", default=[], metavar="N",
        help="also time retrieval over a store of N passages generated from the folder's (repeatable: "
        "--scale 10000 --scale 100000)",
    )
    bench.add_argument(
        "--rounds", type=int, default=3, help="times ingest and raw embedding are each measured, alternately (default 3)"
    )
    bench.add_argument(
        "--hostile", type=int, default=0, metavar="N",
        help="also ingest N PDFs made from the folder's PDFs, most of them broken on purpose",
    )
    bench.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    evaluate = commands.add_parser("eval", help="measure retrieval and answers on a question set")
    evaluate.add_argument("--qa", type=Path, required=True, help="questions, one JSON object a line")
    evaluate.add_argument("--docs", type=Path, required=True, help="folder of the documents they are about")
    evaluate.add_argument("--limit", type=int, help="ask a seeded random sample of this many questions")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    evaluate.add_argument("--retrieval-only", action="store_true", help="skip generation: retrieval keys only")
    evaluate.add_argument(
        "--off-topic", action="store_true",
        help="hide each question's own document from retrieval: every answer should be declined",
    )
    evaluate.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.config)
        return COMMANDS[args.command](args, settings)
    except (SettingsError, StoreError, ModelNotFoundError, UsageError) as exc:
        print(f"ragapp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.pipeline import Pipeline

    try:
        only = Filter.parse(args.filter)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    pipeline = Pipeline(settings)
    pipeline.warm_up()  # so the timings measure the question, not loading the models
    ask = functools.partial(pipeline.ask, args.question, args.collection, only=only, follows=args.follows)
    if args.json:
        answer = ask()
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return EXIT_OK

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = ask(on_token=show)
    if answer.path == DECLINED:  # nothing was streamed: the pipeline answered itself
        sys.stdout.write(answer.text)
    sys.stdout.write("\n")
    if answer.citations:
        print("\nSources:")
        for citation in answer.citations:
            print(f"[{citation.n}] {citation.location()}")
    if answer.related:
        print("\nRelated passages (not close enough to answer from):")
        for hit in answer.related:
            print(f"- {hit.passage.location()}")
    print(f"\n{answer.how_answered()}")
    return EXIT_OK


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.pipeline import Pipeline

    records = Pipeline(settings).documents(args.collection)
    if not records:
        print("no documents yet: upload some in the app or run ingest")
    for record in records:
        pages = f", {record.pages} page{'s' if record.pages != 1 else ''}" if record.pages else ""
        print(f"{record.source}\t{record.passages} passage{'s' if record.passages != 1 else ''}{pages}")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in settings.__dict__.items():
        print(f"{name} = {value}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.bench import run_bench

    if not args.path.is_dir():
        raise UsageError(f"no such folder: {args.path}")
    results = run_bench(
        args.path, settings, queries=args.queries, generations=args.generations, out=sys.stdout, scales=args.scale,
        rounds=args.rounds, hostile=args.hostile,
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return EXIT_OK


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.eval import format_table, run_eval

    def progress(done: int, total: int) -> None:
        print(f"\reval: {done}/{total} questions", end="" if done < total else "\n", file=sys.stderr, flush=True)

    results = run_eval(
        args.qa, args.docs, settings, limit=args.limit, seed=args.seed,
        retrieval_only=args.retrieval_only, off_topic=args.off_topic, on_question=progress,
    )
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return EXIT_OK


COMMANDS = {"ask": cmd_ask, "eval": cmd_eval, "documents": cmd_documents, "settings": cmd_settings, "bench": cmd_bench}

if __name__ == "__main__":
    raise SystemExit(main())
