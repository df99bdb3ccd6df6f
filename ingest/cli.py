"""`ingest PATH... [--collection NAME] [--prune] [--reset] [--watch] [--json]`: bring files into the store."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from ragapp.ingestion import IngestReport, Progress, UsageError
from ragapp.models import ModelNotFoundError
from ragapp.settings import Settings, SettingsError
from ragapp.store import StoreError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ingest",
        description="Add PDF, Word (.docx), PowerPoint (.pptx), Excel (.xlsx), CSV, HTML, Markdown and text files "
        "(folders are read recursively) to the "
        "document store. Unchanged files are skipped; changed files replace their old passages. Every file "
        "ends with one outcome: stored, unchanged, failed or skipped (with the reason).",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to ingest")
    parser.add_argument("--collection", help="collection to ingest into (default: the collection setting)")
    parser.add_argument("--prune", action="store_true", help="remove files that are gone from the given folders")
    parser.add_argument("--reset", action="store_true", help="empty the collection first")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="keep running: bring new, changed and deleted files into the store a few seconds after they "
        "settle (implies --prune; stop with Ctrl-C)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of text")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $RAGAPP_CONFIG or ./ragapp.toml)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        from ragapp.pipeline import Pipeline

        settings = Settings.load(args.config)
        pipeline = Pipeline(settings)
        collection = args.collection or settings.collection
        if args.watch:
            return _watch(args, pipeline, collection)
        # Asked for by name, a folder that is gone is pruned whole (it was moved or deleted).
        report = _ingest_once(args, pipeline, collection, prune=args.prune, reset=args.reset, prune_gone=True)
    except (UsageError, SettingsError, StoreError, ModelNotFoundError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    _print(report, collection, as_json=args.json)
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


def _ingest_once(args, pipeline, collection: str, prune: bool, reset: bool = False, prune_gone: bool = False) -> IngestReport:
    with _ProgressBar(enabled=not args.json) as bar:
        return pipeline.ingest(
            args.paths, collection, prune=prune, reset=reset, on_progress=bar.update, on_wait=_say_waiting,
            prune_gone=prune_gone,
        )


def _say_waiting(message: str) -> None:
    print(f"ingest: {message}", file=sys.stderr, flush=True)


def _watch(args, pipeline, collection: str) -> int:
    from ragapp.watch import watch

    for path in args.paths:
        if not path.exists():
            raise UsageError(f"no such file or folder: {path}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    first = True

    def sync() -> None:
        nonlocal first
        report = _ingest_once(args, pipeline, collection, prune=True, reset=args.reset and first)
        # After the first pass, only what changed is worth a line.
        _print(report, collection, as_json=args.json, changes_only=not first)
        first = False

    if not args.json:
        print(f"ingest: watching {', '.join(str(p) for p in args.paths)} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        watch(args.paths, sync, stop, on_problem=lambda message: print(f"ingest: {message}", file=sys.stderr, flush=True))
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _print(report: IngestReport, collection: str, as_json: bool, changes_only: bool = False) -> None:
    if as_json:
        print(json.dumps({"collection": collection, **report.to_json()}, indent=None if changes_only else 2), flush=True)
        return
    for outcome in report.outcomes:
        if changes_only and outcome.status == "unchanged":
            continue
        print(f"{outcome.source}: {outcome.describe()}")
    print(f"collection '{collection}': {report.summary()}", flush=True)


class _ProgressBar:
    """Files done, passages and ETA on stderr while ingest works."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None

    def __enter__(self) -> "_ProgressBar":
        return self

    def update(self, progress: Progress) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=progress.files_total, unit="file", desc="ingest", file=sys.stderr, dynamic_ncols=True)
        self._bar.set_postfix(passages=progress.passages, refresh=False)
        self._bar.update(progress.files_done - self._bar.n)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.close()
