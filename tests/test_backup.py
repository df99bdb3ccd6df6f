"""Backups with Chroma in this process and the fake embedder: what comes back, and what restore refuses."""

from __future__ import annotations

import errno
import json

import pytest
from fakes import HashEmbedder, ScriptedGenerator

from ragapp import backup as backups
from ragapp.accounts import Accounts
from ragapp.backup import BackupError, backup, restore, verify
from ragapp.pipeline import Pipeline


@pytest.fixture
def backed_up(settings, fake_pipeline, sample_copy, tmp_path):
    fake_pipeline.ingest([sample_copy])
    Accounts(settings.app_db_path).add("maria", "admin", "a long password")
    (settings.upload_dir / "default").mkdir(parents=True)
    (settings.upload_dir / "default" / "0123abcd.md").write_text("# An upload\n")
    dest = tmp_path / "backup"
    backup(settings, dest)
    return dest


def _elsewhere(settings, tmp_path):
    return settings.replace(store_dir=tmp_path / "restored" / "store", upload_dir=tmp_path / "restored" / "uploads")


def test_a_restored_backup_has_the_documents_passages_account_and_uploads(settings, fake_pipeline, backed_up, tmp_path):
    target = _elsewhere(settings, tmp_path)
    report = restore(target, backed_up)
    restored = Pipeline(target, embedder=HashEmbedder(), generator=ScriptedGenerator())
    assert [r.source for r in restored.documents()] == [r.source for r in fake_pipeline.documents()]
    assert restored.store().count() == fake_pipeline.store().count() == sum(r.passages for r in restored.documents())
    assert Accounts(target.app_db_path).get("maria").role == "admin"
    assert (target.upload_dir / "default" / "0123abcd.md").read_text() == "# An upload\n"
    assert report.collections == {"default": {"files": len(restored.documents()), "passages": restored.store().count()}}


def test_the_backup_leaves_out_what_only_describes_running_processes(backed_up):
    listed = {f["path"] for f in json.loads((backed_up / "backup.json").read_text())["files"]}
    assert "store/chroma.sqlite3" in listed and "store/manifest.sqlite3" in listed and "app.sqlite" in listed
    assert not {"store/write.lock", "store/chroma.owner", "store/app.sqlite"} & listed
    assert not [p for p in listed if p.endswith(("-wal", "-shm"))]


@pytest.mark.parametrize("damage", ["changed byte", "missing file"])
def test_restore_checks_every_file_before_touching_the_store(settings, backed_up, tmp_path, damage):
    manifest = backed_up / "store" / "manifest.sqlite3"
    if damage == "changed byte":
        data = bytearray(manifest.read_bytes())
        data[100] ^= 0xFF
        manifest.write_bytes(bytes(data))
    else:
        manifest.unlink()
    target = _elsewhere(settings, tmp_path)
    with pytest.raises(BackupError, match="is damaged: store/manifest.sqlite3"):
        restore(target, backed_up)
    assert not target.store_dir.exists() and not target.upload_dir.exists()


def test_a_backup_that_fails_leaves_nothing_that_passes_for_one(settings, fake_pipeline, sample_copy, tmp_path, monkeypatch):
    fake_pipeline.ingest([sample_copy])

    def disk_full(root):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(backups, "_describe_files", disk_full)
    dest = tmp_path / "backup"
    with pytest.raises(BackupError, match="nothing was kept: No space left on device"):
        backup(settings, dest)
    assert list(dest.iterdir()) == []
    with pytest.raises(BackupError, match="is not a ragapp backup"):
        verify(dest)


def test_a_backup_naming_a_file_outside_itself_is_refused(settings, backed_up, tmp_path):
    description = json.loads((backed_up / "backup.json").read_text())
    (tmp_path / "outside").write_text("")
    description["files"].append({"path": "../outside", "size": 0, "sha256": description["files"][0]["sha256"]})
    (backed_up / "backup.json").write_text(json.dumps(description))
    with pytest.raises(BackupError, match="lists a file it cannot name"):
        restore(_elsewhere(settings, tmp_path), backed_up)


def test_a_store_whose_vectors_are_on_a_chroma_server_is_not_backed_up(settings, tmp_path):
    with pytest.raises(BackupError, match="vectors are on the Chroma server"):
        backup(settings.replace(chroma_url="http://chroma.example:8000"), tmp_path / "backup")
