"""An app killed while it stores an upload: the upload was kept in its final place first, so the
next ingest into that collection finishes it, under the name it was uploaded with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from fakes import HashEmbedder, ScriptedGenerator

from ragapp.accounts import LOCAL_USER
from ragapp.pipeline import Pipeline
from ragapp.workspace import Workspace

WRITER = ROOT / "tests" / "upload_writer.py"
POLICY = "# Parking\n\nStaff may park in the north garage. Each car needs a parking permit from reception.\n"


def _killed_at(stage: str, settings, tmp_path: Path) -> None:
    upload = tmp_path / "given.md"
    upload.write_text(POLICY)
    process = subprocess.Popen(
        [sys.executable, str(WRITER), str(settings.store_dir), str(settings.upload_dir), str(upload), "parking rules.md", stage],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout.readline().strip() == stage
    finally:
        process.kill()
        process.wait(30)


@pytest.mark.parametrize("stage", ["embedding", "writing"])
def test_an_upload_killed_midway_is_finished_by_the_next_ingest(settings, tmp_path, stage):
    _killed_at(stage, settings, tmp_path)
    kept = [p for p in (settings.upload_dir / "default").iterdir() if not p.name.startswith(".")]
    assert len(kept) == 1 and kept[0].read_text() == POLICY  # the upload itself was kept whole

    # The next writer of the collection: someone uploads something else.
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    report = Workspace(pipeline, LOCAL_USER).upload([("lunch.md", b"# Lunch\n\nLunch is served at noon.\n")], "default")
    described = {o.source: o.status for o in report.outcomes}
    assert described == {"lunch.md": "added", "parking rules.md": "added"}, [o.describe() for o in report.outcomes]
    stored = {r.source: r for r in pipeline.documents("default")}
    assert stored["parking rules.md"].passages >= 1
    passages = pipeline.store("default").passages_of(stored["parking rules.md"].doc_id)
    assert any("parking permit" in p.text for p in passages)
    # Finished once: no mark is left, and the next ingest does not bring it up again.
    assert not list((settings.upload_dir / "default").glob(".*.pending"))
    again = pipeline.ingest([], "default")
    assert again.outcomes == []


def test_an_upload_that_finished_leaves_no_mark(settings):
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    report = Workspace(pipeline, LOCAL_USER).upload([("notes.md", b"# Notes\n\nThe office closes at six.\n")], "default")
    assert [o.status for o in report.outcomes] == ["added"]
    assert not list((settings.upload_dir / "default").glob(".*"))
