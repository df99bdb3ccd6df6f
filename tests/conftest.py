from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
SHARED = ROOT.parent / "shared"
PDF_SAMPLES = SHARED / "corpora" / "pdf-samples"

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fakes import HashEmbedder, ScriptedGenerator  # noqa: E402
from ragapp.pipeline import Pipeline  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ragapp.store import ChromaPlace, open_store  # noqa: E402
from store_server import ChromaServer, chroma_server, stop_local_servers  # noqa: E402,F401 (fixture)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The thresholds are the bundled MiniLM's; the bag-of-words HashEmbedder of the unit tests gives
    # lower similarities, so its tests use thresholds that suit it.
    # Chroma in the test's own process: these tests are one process (the local server, shared by
    # processes, is what the integration tests and tests/test_store.py run).
    return Settings(
        store_dir=tmp_path / "store", upload_dir=tmp_path / "uploads", chunk_size=60, chunk_overlap=10,
        min_relevance=0.7, min_support=0.5, chroma="embedded",
    )


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    """A private copy of the sample documents that a test may change."""
    target = tmp_path / "sample"
    shutil.copytree(SAMPLE, target)
    return target


@pytest.fixture
def fake_pipeline(settings: Settings) -> Pipeline:
    return Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())


@pytest.fixture(params=["embedded", "server"])
def open_test_store(request, tmp_path):
    """Opens a store (folder, collection) with Chroma in this process, or on a real `chroma run`
    server of its own: each store test runs against both, as Chroma's own tests do. (One server per
    store folder: two folders are two app hosts, whose manifests may not share a collection.)"""
    if request.param == "embedded":
        yield lambda store_dir, collection="default": open_store(
            store_dir, collection, HashEmbedder.name, ChromaPlace("embedded", store_dir)
        )
        return
    servers: dict[Path, ChromaServer] = {}

    def open_on_server(store_dir: Path, collection: str = "default"):
        if store_dir not in servers:
            servers[store_dir] = ChromaServer(tmp_path / f"chroma-{len(servers)}").start()
        return open_store(store_dir, collection, HashEmbedder.name, ChromaPlace("server", store_dir, servers[store_dir].url))

    yield open_on_server
    for server in servers.values():
        server.stop()


def pytest_sessionfinish(session, exitstatus):
    stop_local_servers(Path(str(session.config._tmp_path_factory.getbasetemp())))
