"""kill -9 at random moments of a real ingest (real embedder, real Chroma, real PDFs): the store
always opens, and the run after the kills ends exactly where a clean run does."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PDF_SAMPLES, ROOT, SAMPLE

from integration.helpers import BIN, cli_env, run_cli
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings

pytestmark = pytest.mark.integration

OPENS = (
    "import sys; from pathlib import Path; from ragapp.pipeline import Pipeline; from ragapp.settings import Settings;"
    "s = Pipeline(Settings(store_dir=Path(sys.argv[1]))).store(); print(s.count(), len(s.documents()))"
)


def _state(store_dir: Path):
    store = Pipeline(Settings(store_dir=store_dir)).store()
    ids = store._collection.get(include=[])["ids"]
    files = sorted((r.source, r.content_hash, r.passages) for r in store.documents())
    return sorted(ids), len(ids), files, store._manifest.indexed_passages(store.name), store._manifest.unfinished(store.name)


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "docs"
    shutil.copytree(SAMPLE, target)
    if PDF_SAMPLES.is_dir():  # real PDFs make the run long enough to be killed in every stage
        for name in ("004-pdflatex-4-pages", "006-pdflatex-outline", "026-latex-multicolumn", "005-libreoffice-writer-password"):
            shutil.copytree(PDF_SAMPLES / name, target / name)
    return target


def test_kill_9_at_random_moments_then_a_full_run_equals_a_clean_run(tmp_path, folder):
    clean_dir, crashed_dir = tmp_path / "clean", tmp_path / "crashed"
    started = time.monotonic()
    clean = run_cli(["ingest", str(folder)], clean_dir)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 1, clean.stderr  # the password-protected PDF fails; the rest is stored

    rng = random.Random(5)
    for attempt in range(5):
        process = subprocess.Popen(
            [str(BIN / "ingest"), str(folder)], cwd=ROOT, env=cli_env(crashed_dir),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.1, 1.0) * clean_seconds)
        process.kill()
        process.wait()
        opened = subprocess.run(
            [sys.executable, "-c", OPENS, str(crashed_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert opened.returncode == 0, f"kill {attempt}: the store does not open: {opened.stderr[-2000:]}"

    final = run_cli(["ingest", str(folder)], crashed_dir)
    assert final.returncode == 1, final.stderr
    assert "libreoffice-writer-password.pdf: failed: password-protected PDF" in final.stdout
    crashed_state, clean_state = _state(crashed_dir), _state(clean_dir)
    assert crashed_state[4] == [] and clean_state[4] == []  # nothing left unfinished
    ids, count, files, indexed, _ = crashed_state
    assert count == len(set(ids)) == indexed == sum(f[2] for f in files)  # no duplicates; all three agree
    assert crashed_state == clean_state
