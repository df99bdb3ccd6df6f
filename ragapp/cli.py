"""`ragapp ask | documents | settings | bench | eval | users | grant | revoke | keys | serve | mcp | backup | restore`:
the library from the command line, for scripts and for the person who runs the app."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from ragapp.accounts import ACCESS, ROLES, AccessDenied, AccountError
from ragapp.backup import BackupError
from ragapp.documents import DECLINED, QuestionError
from ragapp.ingestion import UsageError
from ragapp.keys import KeyRefused
from ragapp.models import ModelNotFoundError
from ragapp.settings import Settings, SettingsError
from ragapp.store import Filter, StoreError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DENIED = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragapp", description="Ask questions of your own documents, locally.")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $RAGAPP_CONFIG or ./ragapp.toml)")
    commands = parser.add_subparsers(dest="command", required=True)

    ask = commands.add_parser("ask", help="answer a question from the stored documents, with sources")
    ask.add_argument("question")
    ask.add_argument("--collection", help="collection to search (default: the collection setting)")
    ask.add_argument(
        "--user", metavar="NAME",
        help="ask as this account, with its rights: refused for a collection it may not read "
        "(default: the machine's owner, who may read everything)",
    )
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

    users = commands.add_parser("users", help="manage the accounts of the app (RAGAPP_SIGN_IN=accounts or proxy)")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add = user_commands.add_parser("add", help="create an account (the first one is always an admin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="reader", help="admin, editor or reader (default reader)")
    add.add_argument(
        "--password-stdin", action="store_true",
        help="read the password from the first line of standard input (without it the account has no "
        "password: for sign-in through the proxy)",
    )
    remove = user_commands.add_parser("remove", help="delete an account, its grants and its history")
    remove.add_argument("name")
    user_commands.add_parser("list", help="list the accounts with their roles and grants")
    role = user_commands.add_parser("role", help="change an account's role")
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    password = user_commands.add_parser("password", help="set an account's password (read from standard input)")
    password.add_argument("name")

    grant = commands.add_parser("grant", help="let an account read, or read and write, a collection")
    grant.add_argument("name")
    grant.add_argument("collection")
    grant.add_argument("access", choices=ACCESS)
    revoke = commands.add_parser("revoke", help="take away an account's access to a collection")
    revoke.add_argument("name")
    revoke.add_argument("collection")

    keys = commands.add_parser("keys", help="manage the API keys of `ragapp serve` (each acts as one person)")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="make a key for an account and print it (the only time it is shown)")
    create.add_argument("name", help="the account the key acts as ('local' with sign-in none: the machine's owner)")
    create.add_argument("--expires", type=float, metavar="DAYS", help="the key stops working after this many days")
    create.add_argument("--label", default="", help="what the key is for (shown in the list)")
    listed = key_commands.add_parser("list", help="list the keys: id, person, state, dates (never the keys themselves)")
    listed.add_argument("--user", metavar="NAME", help="only this person's keys")
    revoke_key = key_commands.add_parser("revoke", help="stop a key from working, at once")
    revoke_key.add_argument("key_id", help="the key's id, as `ragapp keys list` shows it (rag_...)")

    audit_log = commands.add_parser("audit", help="the audit log: sign-ins, failed sign-ins and admin actions, newest first")
    audit_log.add_argument("--user", metavar="NAME", help="only what this person did or had done to them")
    audit_log.add_argument("--limit", type=int, default=100, help="how many events (default 100)")

    serve = commands.add_parser("serve", help="serve the HTTP API (OpenAI-compatible chat, /v1/ask, documents)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")

    mcp = commands.add_parser("mcp", help="a Model Context Protocol server on stdio, with search and ask tools")
    mcp.add_argument(
        "--user", metavar="NAME",
        help="act as this account, with its rights (default: the machine's owner, who may read everything)",
    )

    backup = commands.add_parser(
        "backup", help="copy the store (vectors, manifest, word index, accounts, history, uploads) into a new folder; "
        "the app may run meanwhile (writes wait for the copy)",
    )
    backup.add_argument("dest", type=Path, help="a new or empty folder for the backup")
    restore = commands.add_parser("restore", help="bring a backup back as the store (RAGAPP_STORE_DIR), checking it first")
    restore.add_argument("src", type=Path, help="the folder `ragapp backup` wrote")
    restore.add_argument(
        "--force", action="store_true",
        help="replace a store that is there: it is kept beside, renamed (refused while a process uses it)",
    )

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
    bench.add_argument(
        "--answers", type=Path, metavar="QUESTIONS",
        help="also time whole answers to these questions (a question file as for eval), on an idle machine, "
        "beside another process asking them, and beside an ingest of --load-docs",
    )
    bench.add_argument("--load-docs", type=Path, metavar="DIR", help="the folder the concurrent ingest of --answers reads")
    bench.add_argument(
        "--api", type=Path, metavar="QUESTIONS",
        help="also time answers to these questions through `ragapp serve` and the openai client beside the library, "
        "and the two asking at once with one model or two",
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
    evaluate.add_argument(
        "--store-precision", choices=("float32", "bf16"),
        help="embed the documents at this precision, the questions at the one in force (shows that stores "
        "written at one precision are searched at the other)",
    )
    evaluate.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(args.config)
        return COMMANDS[args.command](args, settings)
    except (AccessDenied, KeyRefused) as exc:
        print(f"ragapp: access denied: {exc}", file=sys.stderr)
        return EXIT_DENIED
    except (SettingsError, StoreError, ModelNotFoundError, UsageError, AccountError, QuestionError, BackupError) as exc:
        print(f"ragapp: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.pipeline import Pipeline
    from ragapp.workspace import workspace_for

    try:
        only = Filter.parse(args.filter)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    pipeline = Pipeline(settings)
    # The rights are checked before the models load: a refusal is immediate.
    workspace = workspace_for(pipeline, args.user)
    collection = args.collection or settings.collection
    if not workspace.may_read(collection):
        raise AccessDenied(f"{workspace.user.name} may not read the collection '{collection}'")
    pipeline.warm_up()  # so the timings measure the question, not loading the models
    ask = functools.partial(workspace.ask, args.question, collection, only=only, follows=args.follows)
    if args.json:
        answer = ask()
        print(json.dumps(answer.to_json(), ensure_ascii=False, indent=2))
        return EXIT_OK

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    answer = ask(on_token=show)
    if answer.lead:
        sys.stdout.write(f"\n\n({answer.lead})")
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
    for name, value in settings.shown().items():
        print(f"{name} = {value}")
    from ragapp.embedder import choose_precision
    from ragapp.factory import describe_model
    from ragapp.store.chroma import connect

    precision = choose_precision(settings.embed_precision)
    print(f"# embedding precision: {precision.value} ({precision.reason})")
    print(f"# chat model: {describe_model(settings)}")
    print(f"# vectors: {connect(settings.chroma_place).status()}")
    return EXIT_OK


def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.bench import run_bench

    if not args.path.is_dir():
        raise UsageError(f"no such folder: {args.path}")
    results = run_bench(
        args.path, settings, queries=args.queries, generations=args.generations, out=sys.stdout, scales=args.scale,
        rounds=args.rounds, hostile=args.hostile, answers=args.answers, load_docs=args.load_docs, api=args.api,
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
        store_precision=args.store_precision,
    )
    print(format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return EXIT_OK


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.accounts import Accounts
    from ragapp.history import History

    accounts = Accounts(settings.app_db_path)
    command = args.users_command
    if command == "add":
        password = _read_password() if args.password_stdin else None
        user = accounts.add(args.name, args.role, password)
        note = " (the first account is always an admin)" if user.role != args.role else ""
        print(f"added {user.name} as {user.role}{note}{'' if password else ', without a password (proxy sign-in only)'}")
    elif command == "remove":
        accounts.remove(args.name)
        History(settings.app_db_path).delete_all(args.name)
        print(f"removed {args.name}, with their grants and history")
    elif command == "role":
        user = accounts.set_role(args.name, args.role)
        print(f"{user.name} is now {user.role}")
    elif command == "password":
        accounts.set_password(args.name, _read_password())
        print(f"password of {args.name} changed")
    else:
        grants: dict[str, list[str]] = {}
        for name, collection, access in accounts.grants():
            grants.setdefault(name, []).append(f"{collection}:{access}")
        users = accounts.users()
        if not users:
            print("no accounts yet: ragapp users add NAME --role admin --password-stdin")
        for user in users:
            rights = "every collection" if user.is_admin else (", ".join(grants.get(user.name, [])) or "no collections")
            columns = [user.name, user.role, rights] + ([] if user.has_password else ["(no password)"])
            print("\t".join(columns))
    return EXIT_OK


def _read_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise UsageError("no password on standard input")
    return password


def cmd_grant(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.accounts import Accounts
    from ragapp.store import check_collection_name

    Accounts(settings.app_db_path).grant(args.name, check_collection_name(args.collection), args.access)
    print(f"{args.name} may now {args.access} the collection '{args.collection}'")
    return EXIT_OK


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.accounts import Accounts

    if Accounts(settings.app_db_path).revoke(args.name, args.collection):
        print(f"{args.name} no longer has access to the collection '{args.collection}'")
    else:
        print(f"{args.name} had no grant on the collection '{args.collection}'")
    return EXIT_OK


def cmd_keys(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from ragapp.pipeline import Pipeline
    from ragapp.workspace import key_owner

    pipeline = Pipeline(settings)
    keys = pipeline.keys
    if args.keys_command == "create":
        info, secret = keys.create(key_owner(pipeline, args.name), args.expires, args.label)
        until = f", expires {_date(info.expires_at)}" if info.expires_at else ""
        print(secret)
        print(f"key {info.id} acts as {info.user}{until}. Keep it now: it is not shown again.", file=sys.stderr)
    elif args.keys_command == "revoke":
        if keys.revoke(args.key_id):
            print(f"revoked {args.key_id}: it no longer works")
        else:
            raise UsageError(f"no active key {args.key_id!r} (see ragapp keys list)")
    else:
        listed = keys.keys(args.user)
        if not listed:
            print("no API keys yet: ragapp keys create NAME")
        now = time.time()
        for info in listed:
            columns = [info.id, info.user, info.state(now), f"created {_date(info.created_at)}",
                       f"expires {_date(info.expires_at)}" if info.expires_at else "no expiry",
                       f"last used {_date(info.last_used_at)}" if info.last_used_at else "never used", info.label]
            print("\t".join(c for c in columns if c))
    return EXIT_OK


def _date(when: float | None) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M") if when else ""


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.audit import AuditLog

    events = AuditLog(settings.app_db_path).events(args.limit, args.user)
    if not events:
        print("nothing in the audit log yet")
    for event in events:
        columns = [event.when(), event.actor or "-", event.action, event.target, event.detail,
                   f"from {event.address}" if event.address else ""]
        print("\t".join(c for c in columns if c))
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.api import serve

    return serve(settings, args.host, args.port)


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.mcp_server import run

    return run(settings, args.user)


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.backup import backup

    def waiting(message: str) -> None:
        print(f"ragapp: backup: {message}", file=sys.stderr, flush=True)

    report = backup(settings, args.dest, on_wait=waiting)
    print(f"backed up {settings.store_dir} to {report.dest}: {_collections(report.collections)}; "
          f"{report.files} files, {report.bytes / 1e6:.1f} MB, in {report.seconds:.1f} s")
    return EXIT_OK


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from ragapp.backup import restore

    report = restore(settings, args.src, force=args.force)
    for kept in report.kept_aside:
        print(f"kept what was there in {kept}")
    print(f"restored the backup of {report.taken_at} into {report.store_dir}: {_collections(report.collections)}")
    for note in report.notes:
        print(f"note: {note}")
    return EXIT_OK


def _collections(collections: dict[str, dict[str, int]]) -> str:
    if not collections:
        return "no documents"
    return ", ".join(f"'{name}' ({c['files']} files, {c['passages']} passages)" for name, c in sorted(collections.items()))


COMMANDS = {
    "ask": cmd_ask, "eval": cmd_eval, "documents": cmd_documents, "settings": cmd_settings, "bench": cmd_bench,
    "users": cmd_users, "grant": cmd_grant, "revoke": cmd_revoke, "keys": cmd_keys, "serve": cmd_serve, "mcp": cmd_mcp,
    "backup": cmd_backup, "restore": cmd_restore,
    "audit": cmd_audit,
}

if __name__ == "__main__":
    raise SystemExit(main())
