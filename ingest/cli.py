"""`ingest PATH... [--collection NAME] [--prune] [--reset] [--json]`: bring files into the store."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ragapp.ingestion import FAILED, REMOVED, SKIPPED, IngestReport, Progress, UsageError
from ragapp.models import ModelNotFoundError
from ragapp.settings import Settings, SettingsError
from ragapp.store import StoreError

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE = 0, 1, 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ingest",
        description="Add PDF, Markdown and text files (folders are read recursively) to the document store. "
        "Unchanged files are skipped; changed files replace their old passages.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders to ingest")
    parser.add_argument("--collection", help="collection to ingest into (default: the collection setting)")
    parser.add_argument("--prune", action="store_true", help="remove files that are gone from the given folders")
    parser.add_argument("--reset", action="store_true", help="empty the collection first")
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
        with _ProgressBar(enabled=not args.json) as bar:
            report = pipeline.ingest(args.paths, collection, prune=args.prune, reset=args.reset, on_progress=bar.update)
    except (UsageError, SettingsError, StoreError, ModelNotFoundError) as exc:
        print(f"ingest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"collection": collection, **report.to_json()}, indent=2))
    else:
        print_report(report, collection)
    return EXIT_SOME_FAILED if report.failed else EXIT_OK


def print_report(report: IngestReport, collection: str) -> None:
    for outcome in report.outcomes:
        if outcome.status in (FAILED, SKIPPED):
            print(f"{outcome.status}: {outcome.source}: {outcome.reason}")
        elif outcome.status == REMOVED:
            print(f"removed: {outcome.source} ({outcome.passages} passages)")
    print(f"collection '{collection}': {report.summary()}")


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
