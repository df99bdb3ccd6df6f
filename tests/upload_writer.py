"""An app process uploading one file, for tests/test_killed_uploads.py: it says on standard output
when it has reached the chosen stage and then waits there, to be killed.

    python tests/upload_writer.py STORE_DIR UPLOAD_DIR FILE NAME (embedding|writing)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import HashEmbedder, ScriptedGenerator  # noqa: E402

from ragapp.accounts import LOCAL_USER  # noqa: E402
from ragapp.pipeline import Pipeline  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ragapp.store import Store  # noqa: E402
from ragapp.workspace import Workspace  # noqa: E402


def _stop_here(stage: str) -> None:
    print(stage, flush=True)
    time.sleep(600)


class StoppingEmbedder(HashEmbedder):
    def embed_batch(self, texts):
        _stop_here("embedding")


def main() -> int:
    store_dir, upload_dir, file, name, stage = sys.argv[1:]
    settings = Settings(store_dir=Path(store_dir), upload_dir=Path(upload_dir), chunk_size=60, chunk_overlap=10, chroma="embedded")
    embedder = StoppingEmbedder() if stage == "embedding" else HashEmbedder()
    if stage == "writing":  # the store is half-written: its journal says so
        upsert = Store._upsert

        def half(self, passages, vectors):
            upsert(self, passages[:1], vectors[:1])
            _stop_here("writing")

        Store._upsert = half
    workspace = Workspace(Pipeline(settings, embedder=embedder, generator=ScriptedGenerator()), LOCAL_USER)
    workspace.upload([(name, Path(file).read_bytes())], "default")
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
