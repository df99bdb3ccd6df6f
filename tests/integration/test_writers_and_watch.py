"""Two writers of one store, and a watched folder, through the real `ingest` command."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from integration.helpers import BIN, cli_env, run_cli
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from ragapp.store import WriteLock

pytestmark = pytest.mark.integration


def _sources(store_dir: Path) -> list[str]:
    return [r.source for r in Pipeline(Settings(store_dir=store_dir)).documents()]


def test_an_ingest_waits_for_the_writer_before_it_then_gives_up_clearly(tmp_path):
    store_dir = tmp_path / "store"
    with WriteLock(store_dir).hold(5, what="upload in the app"):
        result = run_cli(["ingest", str(SAMPLE)], store_dir, RAGAPP_WRITE_WAIT_S="1")
    assert result.returncode == 2
    assert "waiting for another writer (upload in the app, pid" in result.stderr
    assert "the store is busy: another writer (upload in the app" in result.stderr
    assert _sources(store_dir) == []


def test_two_ingests_at_once_both_finish_one_after_the_other(tmp_path):
    store_dir = tmp_path / "store"
    other = tmp_path / "other"
    other.mkdir()
    (other / "canteen.md").write_text("# Canteen\n\nThe canteen serves lunch from noon to two.\n")
    processes = [
        subprocess.Popen(
            [str(BIN / "ingest"), str(folder)], cwd=ROOT, env=cli_env(store_dir),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for folder in (SAMPLE, other)
    ]
    outputs = [p.communicate(timeout=600) for p in processes]
    # The whole of each error output: a list of tuples would be shortened in the report.
    assert [p.returncode for p in processes] == [0, 0], "\n---\n".join(err for _, err in outputs)
    assert sum("waiting for another writer" in err for _, err in outputs) == 1
    assert sorted(_sources(store_dir)) == sorted(["canteen.md", *_sample_sources()])


def _sample_sources() -> list[str]:
    return [p.relative_to(SAMPLE).as_posix() for p in SAMPLE.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_ingest_watch_reflects_an_add_a_change_and_a_delete(tmp_path):
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.md").write_text("# First\n\nThe first note is about bicycles.\n")
    store_dir = tmp_path / "store"
    watcher = subprocess.Popen(
        [str(BIN / "ingest"), "--watch", str(folder)], cwd=ROOT, env=cli_env(store_dir),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )

    def eventually(condition, what, within_s):
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if condition():
                return
            assert watcher.poll() is None, watcher.stdout.read()
            time.sleep(0.2)
        raise AssertionError(f"ingest --watch did not reflect {what} within {within_s} s")

    def hashes():
        return {r.source: r.content_hash for r in Pipeline(Settings(store_dir=store_dir)).documents()}

    try:
        eventually(lambda: list(hashes()) == ["first.md"], "the file already there", 120)  # model loading
        (folder / "second.md").write_text("# Second\n\nThe second note is about ferries.\n")
        eventually(lambda: sorted(hashes()) == ["first.md", "second.md"], "an added file", 10)
        before = hashes()["first.md"]
        (folder / "first.md").write_text("# First\n\nThe first note is now about trams.\n")
        eventually(lambda: hashes().get("first.md") not in (None, before), "a changed file", 10)
        (folder / "second.md").unlink()
        eventually(lambda: list(hashes()) == ["first.md"], "a deleted file", 10)
    finally:
        watcher.terminate()
        output, _ = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, output
    assert "second.md: stored, 1 passage (new)" in output
    assert "first.md: stored, 1 passage (changed)" in output
    assert "second.md: removed, 1 passage (file is gone)" in output


def test_ingest_watch_keeps_the_documents_of_a_folder_that_goes_away(tmp_path):
    """A share that unmounts: the folder gone, then back empty as a bare mount point. The watch says
    so, removes nothing, and syncs again once the files are back."""
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "first.md").write_text("# First\n\nThe first note is about bicycles.\n")
    (folder / "second.md").write_text("# Second\n\nThe second note is about ferries.\n")
    store_dir = tmp_path / "store"
    watcher = subprocess.Popen(
        [str(BIN / "ingest"), "--watch", str(folder)], cwd=ROOT, env=cli_env(store_dir),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(watcher.stdout.readline, "")), daemon=True)
    reader.start()

    def eventually(condition, what, within_s):
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if condition():
                return
            assert watcher.poll() is None, "".join(lines)
            time.sleep(0.2)
        raise AssertionError(f"ingest --watch did not {what} within {within_s} s: {''.join(lines)}")

    both = ["first.md", "second.md"]
    try:
        eventually(lambda: sorted(_sources(store_dir)) == both, "store the files", 120)
        away = tmp_path / "unmounted"
        folder.rename(away)
        eventually(lambda: any("is missing: nothing is removed" in line for line in lines), "say the folder is missing", 15)
        folder.mkdir()  # the bare mount point
        eventually(lambda: any("is empty now" in line for line in lines), "say the folder looks unmounted", 15)
        time.sleep(4)  # longer than the watch takes to settle and sync
        assert sorted(_sources(store_dir)) == both
        folder.rmdir()
        away.rename(folder)
        (folder / "third.md").write_text("# Third\n\nThe third note is about trams.\n")
        eventually(lambda: sorted(_sources(store_dir)) == [*both, "third.md"], "sync once the share is back", 30)
    finally:
        watcher.terminate()
        watcher.wait(timeout=30)
    assert watcher.returncode == 0, "".join(lines)
    assert any("in sync again" in line for line in lines)
