"""Another process writing into a store, for tests/test_store.py: ingests a folder with the fake
embedder through the store's local Chroma server and prints what it did as JSON.

    python tests/store_writer.py STORE_DIR FOLDER [--prune] [--reset]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import HashEmbedder  # noqa: E402

from ragapp.ingestion import ingest  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ragapp.store import open_store  # noqa: E402
from ragapp.store.chroma import SERVER_FILE  # noqa: E402


def main() -> int:
    store_dir, folder, *options = sys.argv[1:]
    settings = Settings.load(store_dir=Path(store_dir))
    store = open_store(settings.store_dir, "default", HashEmbedder.name, settings.chroma_place)
    report = ingest(
        [Path(folder)], store, HashEmbedder(), chunk_size=60, chunk_overlap=10,
        prune="--prune" in options, reset="--reset" in options,
    )
    server = json.loads((settings.store_dir / SERVER_FILE).read_text()) if (settings.store_dir / SERVER_FILE).exists() else {}
    print(json.dumps({
        "outcomes": {o.source: o.status for o in report.outcomes},
        "passages": store.count(),
        "server_pid": server.get("pid"),
        "pid": os.getpid(),
    }))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
