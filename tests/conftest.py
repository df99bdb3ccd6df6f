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


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The thresholds are the bundled MiniLM's; the bag-of-words HashEmbedder of the unit tests gives
    # lower similarities, so its tests use thresholds that suit it.
    return Settings(
        store_dir=tmp_path / "store", upload_dir=tmp_path / "uploads", chunk_size=60, chunk_overlap=10,
        min_relevance=0.7, min_support=0.5,
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
