import pytest

from ragapp.ingestion import UsageError


def _statuses(report):
    return {o.source: o.status for o in report.outcomes}


def test_first_run_adds_every_supported_file_and_lists_the_rest(fake_pipeline, sample_copy):
    (sample_copy / "slides.key").write_bytes(b"PK\x03\x04")
    report = fake_pipeline.ingest([sample_copy])
    statuses = _statuses(report)
    assert statuses["handbook/leave-policy.md"] == "added"
    assert statuses["benefits-guide.pdf"] == "added"
    assert statuses["slides.key"] == "skipped"
    assert report.passages == fake_pipeline.store().count() > 0
    sources = {d.source for d in fake_pipeline.documents()}
    assert "engineering/security-basics.txt" in sources and "slides.key" not in sources


def test_rerun_skips_unchanged_files_without_embedding(fake_pipeline, sample_copy):
    fake_pipeline.ingest([sample_copy])
    embedded_before = len(fake_pipeline.embedder.embedded)
    count_before = fake_pipeline.store().count()
    report = fake_pipeline.ingest([sample_copy])
    assert set(_statuses(report).values()) == {"unchanged"}
    assert len(fake_pipeline.embedder.embedded) == embedded_before
    assert fake_pipeline.store().count() == count_before


def test_changed_file_replaces_its_old_passages(fake_pipeline, sample_copy):
    fake_pipeline.ingest([sample_copy])
    store = fake_pipeline.store()
    target = sample_copy / "handbook" / "remote-work.md"
    doc_id = next(d.doc_id for d in store.documents() if d.source == "handbook/remote-work.md")
    old_ids = {p.id for p in store.passages_of(doc_id)}
    target.write_text("# Remote work\n\nRemote work is now allowed from anywhere for 45 days a year.\n")
    report = fake_pipeline.ingest([sample_copy])
    assert _statuses(report)["handbook/remote-work.md"] == "updated"
    new = store.passages_of(doc_id)
    assert len(new) == 1 and "45 days" in new[0].text
    assert not old_ids & {p.id for p in new}
    assert store.record(doc_id).passages == 1


def test_prune_removes_files_that_are_gone(fake_pipeline, sample_copy):
    fake_pipeline.ingest([sample_copy])
    before = fake_pipeline.store().count()
    (sample_copy / "handbook" / "onboarding.md").unlink()
    kept = fake_pipeline.ingest([sample_copy])
    assert "handbook/onboarding.md" in {d.source for d in fake_pipeline.documents()}  # no prune: kept
    assert kept.count("removed") == 0
    report = fake_pipeline.ingest([sample_copy], prune=True)
    assert _statuses(report)["handbook/onboarding.md"] == "removed"
    assert "handbook/onboarding.md" not in {d.source for d in fake_pipeline.documents()}
    assert fake_pipeline.store().count() < before


def test_a_broken_file_fails_alone(fake_pipeline, sample_copy):
    (sample_copy / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = fake_pipeline.ingest([sample_copy])
    assert [o.source for o in report.failed] == ["broken.pdf"]
    assert "damaged PDF" in report.failed[0].reason
    assert report.count("added") == len(list(sample_copy.rglob("*.*"))) - 1


def test_reset_empties_the_collection_first(fake_pipeline, sample_copy, tmp_path):
    fake_pipeline.ingest([sample_copy])
    other = tmp_path / "other"
    other.mkdir()
    (other / "only.txt").write_text("The only document left.")
    fake_pipeline.ingest([other], reset=True)
    assert [d.source for d in fake_pipeline.documents()] == ["only.txt"]


def test_collections_are_separate(fake_pipeline, sample_copy):
    fake_pipeline.ingest([sample_copy / "handbook"], collection="handbook")
    assert fake_pipeline.documents("default") == []
    assert len(fake_pipeline.documents("handbook")) == 4


def test_missing_path_is_a_usage_error(fake_pipeline, tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        fake_pipeline.ingest([tmp_path / "nope"])


def test_progress_reports_every_file(fake_pipeline, sample_copy):
    seen = []
    fake_pipeline.ingest([sample_copy], on_progress=seen.append)
    assert [p.files_done for p in seen] == list(range(0, len(seen)))  # 0: before the first file
    assert seen[-1].files_done == seen[-1].files_total and seen[-1].passages > 0


def test_a_moved_folder_keeps_its_documents_without_storing_or_embedding_them_again(fake_pipeline, sample_copy, tmp_path):
    from ragapp.retriever import retrieve

    fake_pipeline.ingest([sample_copy])
    store = fake_pipeline.store()
    before = {d.source: d for d in store.documents()}
    count, embedded = store.count(), len(fake_pipeline.embedder.embedded)
    moved_to = tmp_path / "moved" / "knowledge-base"
    moved_to.parent.mkdir()
    sample_copy.rename(moved_to)

    report = fake_pipeline.ingest([moved_to])
    statuses = set(_statuses(report).values())
    assert statuses == {"moved"}, [o.describe() for o in report.outcomes]
    leave = next(o for o in report.outcomes if o.source == "handbook/leave-policy.md")
    assert leave.describe().startswith("moved, ") and str(sample_copy) in leave.reason
    assert len(fake_pipeline.embedder.embedded) == embedded  # nothing read or embedded again
    assert store.count() == count  # nothing stored twice
    after = {d.source: d for d in store.documents()}
    assert after.keys() == before.keys()
    assert after["handbook/leave-policy.md"].path == str(moved_to / "handbook" / "leave-policy.md")
    # Citations open the file at its new place, and questions still find its passages.
    hits = retrieve("paid annual leave days", fake_pipeline.embedder, store, 3, (), "hybrid")
    assert hits and hits[0].passage.path.startswith(str(moved_to))
    assert "moved" in report.summary()
    # Ingested again: unchanged. `--prune OLD`, the old folder being gone: nothing left to remove.
    assert set(_statuses(fake_pipeline.ingest([moved_to])).values()) == {"unchanged"}
    pruned = fake_pipeline.ingest([sample_copy], prune=True, prune_gone=True)
    assert pruned.outcomes == [] and store.count() == count


def test_a_copied_folder_is_stored_as_its_own_documents(fake_pipeline, sample_copy, tmp_path):
    import shutil

    fake_pipeline.ingest([sample_copy])
    count = fake_pipeline.store().count()
    shutil.copytree(sample_copy, tmp_path / "copy")
    report = fake_pipeline.ingest([tmp_path / "copy"])
    assert set(_statuses(report).values()) == {"added"}
    assert fake_pipeline.store().count() == 2 * count


def test_prune_of_a_folder_that_is_gone_removes_its_documents_but_only_when_asked_by_name(fake_pipeline, sample_copy, tmp_path):
    import shutil

    fake_pipeline.ingest([sample_copy])
    shutil.rmtree(sample_copy)
    with pytest.raises(UsageError, match="no such file or folder"):
        fake_pipeline.ingest([sample_copy], prune=True)  # as a watch syncs: a gone folder is not emptied
    assert fake_pipeline.store().documents()
    report = fake_pipeline.ingest([sample_copy], prune=True, prune_gone=True)
    assert report.outcomes and {o.status for o in report.outcomes} == {"removed"}
    assert all(f"folder {sample_copy} is gone" in o.describe() for o in report.outcomes)
    assert fake_pipeline.store().documents() == [] and fake_pipeline.store().count() == 0
