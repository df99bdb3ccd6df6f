"""`ragapp backup` taken while an ingest writes to the store, and `ragapp restore`, as a user runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import ROOT, SAMPLE

from integration.helpers import BIN, cli_env, run_cli
from ragapp.history import History
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from ragapp.store import WriteLock
from ragapp.uploads import save_upload

pytestmark = pytest.mark.integration

LEAVE_QUESTION = "How many days of paid annual leave do full-time employees get?"
GARDEN_QUESTION = "When does the rooftop garden open?"
# Uploaded while the backup is taken: a fact that is nowhere in the sample handbook.
UPLOADED = {
    "rooftop-garden.md": "# Rooftop garden\n\nThe rooftop garden of the Fernhill office opens at 7:30 on weekdays "
    "and closes at 19:00. Plants may be adopted by any team.\n",
    **{
        f"meeting-room-{n}.md": f"# Meeting room {n}\n\nMeeting room {n} seats {4 + n} people and has a screen. "
        f"Book it in the calendar; bookings longer than {n + 1} hours need a reason.\n"
        for n in range(1, 6)
    },
}


def _documents(store_dir: Path) -> list[tuple[str, int]]:
    return sorted((r.source, r.passages) for r in Pipeline(Settings(store_dir=store_dir)).documents())


@pytest.fixture(scope="module")
def taken(tmp_path_factory):
    """The sample handbook ingested, an account and a conversation, then a backup taken while
    another ingest stores uploaded files in the same store."""
    root = tmp_path_factory.mktemp("backup")
    store, uploads = root / "store", root / "uploads"
    env = {"RAGAPP_UPLOAD_DIR": str(uploads)}
    first = run_cli(["ingest", str(SAMPLE)], store, **env)
    assert first.returncode == 0, first.stderr
    added = subprocess.run(
        [str(BIN / "ragapp"), "users", "add", "maria", "--role", "admin", "--password-stdin"], input="a long password\n",
        cwd=ROOT, env=cli_env(store, **env), capture_output=True, text=True, timeout=120,
    )
    assert added.returncode == 0, added.stderr
    # Kept open through the backup, as the app keeps it: the conversation may still sit in the
    # database's write-ahead log rather than in app.sqlite itself.
    history = History(store / "app.sqlite")
    history.start("maria", "default", "What is the leave policy?")

    for name, text in UPLOADED.items():
        save_upload(text.encode(), name, uploads / "default", max_mb=50)
    ingest = subprocess.Popen(
        [str(BIN / "ingest"), str(uploads / "default")], cwd=ROOT, env=cli_env(store, **env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_until_writing(store, ingest)
        dest = root / "backup"
        started = time.monotonic()
        backed_up = run_cli(["ragapp", "backup", str(dest)], store, **env)
        seconds = time.monotonic() - started
        ingest_out, ingest_err = ingest.communicate(timeout=600)
    finally:
        ingest.kill()
        history.close()
    assert ingest.returncode == 0, ingest_err
    assert backed_up.returncode == 0, backed_up.stderr
    return {"root": root, "store": store, "uploads": uploads, "dest": dest, "backup": backed_up, "seconds": seconds}


def _wait_until_writing(store: Path, process: subprocess.Popen) -> None:
    """Until the process holds the store's write lock (its holder writes its pid into the lock file)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads((store / "write.lock").read_text() or "{}").get("pid") == process.pid:
                return
        except (OSError, ValueError):
            pass
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("the ingest did not take the store's write lock")


def test_a_backup_taken_during_an_ingest_restores_to_a_store_that_answers(taken, tmp_path):
    backed_up = taken["backup"]
    # The backup waited for the ingest under way, then copied the store as it left it.
    assert "waiting for another writer" in backed_up.stderr and "ingest" in backed_up.stderr, backed_up.stderr
    live = _documents(taken["store"])
    sample_files = [p for p in SAMPLE.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(live) == len(sample_files) + len(UPLOADED)

    restored, restored_uploads = tmp_path / "restored" / "store", tmp_path / "restored" / "uploads"
    env = {"RAGAPP_UPLOAD_DIR": str(restored_uploads)}
    result = run_cli(["ragapp", "restore", str(taken["dest"])], restored, **env)
    assert result.returncode == 0, result.stderr
    assert _documents(restored) == live
    # The uploaded originals came back byte for byte (each is named by its content).
    originals = {p.name: p.read_bytes() for p in (taken["uploads"] / "default").iterdir()}
    assert {p.name: p.read_bytes() for p in (restored_uploads / "default").iterdir()} == originals
    assert "RAGAPP_UPLOAD_DIR=" in result.stdout  # they were kept elsewhere before: the user is told

    users = run_cli(["ragapp", "users", "list"], restored, **env)
    assert users.stdout.startswith("maria\tadmin"), users.stdout + users.stderr
    conversations = History(restored / "app.sqlite").conversations("maria")
    assert [c.title for c in conversations] == ["What is the leave policy?"]

    for question, source in ((LEAVE_QUESTION, "handbook/leave-policy.md"), (GARDEN_QUESTION, None)):
        asked = run_cli(["ragapp", "ask", "--json", question], restored, **env)
        assert asked.returncode == 0, asked.stderr
        answer = json.loads(asked.stdout)
        assert not answer["refused"] and answer["citations"], answer
        if source:
            assert answer["citations"][0]["source"] == source, answer
            assert "27 days" in answer["answer"], answer
        else:  # the file stored by the ingest the backup waited for
            assert "7:30" in answer["answer"], answer
            assert "7:30" in answer["citations"][0]["text"], answer


def test_restore_refuses_a_store_that_is_there_and_a_folder_that_is_no_backup(taken, tmp_path):
    store, env = taken["store"], {"RAGAPP_UPLOAD_DIR": str(taken["uploads"])}
    before = _documents(store)

    into_live = run_cli(["ragapp", "restore", str(taken["dest"])], store, **env)
    assert into_live.returncode == 2
    assert "not empty" in into_live.stderr and "--force" in into_live.stderr
    assert "Traceback" not in into_live.stderr
    assert _documents(store) == before

    not_a_backup = run_cli(["ragapp", "restore", str(SAMPLE)], tmp_path / "fresh")
    assert not_a_backup.returncode == 2
    assert "is not a ragapp backup" in not_a_backup.stderr and "Traceback" not in not_a_backup.stderr
    assert not (tmp_path / "fresh").exists()

    over_a_backup = run_cli(["ragapp", "backup", str(taken["dest"])], store, **env)
    assert over_a_backup.returncode == 2
    assert "is not empty" in over_a_backup.stderr and "Traceback" not in over_a_backup.stderr
    (tmp_path / "a-file").write_text("")
    unwritable = run_cli(["ragapp", "backup", str(tmp_path / "a-file" / "backup")], store, **env)
    assert unwritable.returncode == 2
    assert "cannot write the backup" in unwritable.stderr and "Traceback" not in unwritable.stderr


def test_restore_force_waits_for_no_writer_and_keeps_the_store_it_replaces(taken, tmp_path):
    target = tmp_path / "store"
    env = {"RAGAPP_UPLOAD_DIR": str(tmp_path / "uploads")}
    assert run_cli(["ragapp", "restore", str(taken["dest"])], target, **env).returncode == 0
    (target / "only-in-the-old-store.txt").write_text("kept")

    with WriteLock(target).hold(5, what="upload in the app"):
        busy = run_cli(["ragapp", "restore", "--force", str(taken["dest"])], target, **env)
    assert busy.returncode == 2
    assert "(upload in the app, pid" in busy.stderr and "Traceback" not in busy.stderr
    assert (target / "only-in-the-old-store.txt").exists()

    forced = run_cli(["ragapp", "restore", "--force", str(taken["dest"])], target, **env)
    assert forced.returncode == 0, forced.stderr
    kept = [line.removeprefix("kept what was there in ") for line in forced.stdout.splitlines() if line.startswith("kept")]
    assert any(Path(k).name.startswith("store.before-restore-") for k in kept), forced.stdout
    old = next(Path(k) for k in kept if Path(k).name.startswith("store.before-restore-"))
    assert (old / "only-in-the-old-store.txt").read_text() == "kept"
    assert not (target / "only-in-the-old-store.txt").exists()
    assert _documents(target) == _documents(taken["store"])


def test_restore_refuses_a_backup_with_a_changed_byte(taken, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(taken["dest"], damaged)
    chroma = damaged / "store" / "chroma.sqlite3"
    data = bytearray(chroma.read_bytes())
    data[len(data) // 2] ^= 0x01
    chroma.write_bytes(bytes(data))

    result = run_cli(["ragapp", "restore", str(damaged)], tmp_path / "store", RAGAPP_UPLOAD_DIR=str(tmp_path / "uploads"))
    assert result.returncode == 2
    assert "damaged" in result.stderr and "store/chroma.sqlite3" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "uploads").exists()
