"""Ingest against hostile files, crashes half-way, two writers and a watched folder: every file
ends with one clear outcome, and the store always ends as a clean run leaves it."""

import os
import threading
import time
from pathlib import Path

import pytest
from fakes import HashEmbedder
from pdfgen import write_pdf

from ragapp.ingestion import ADDED, FAILED, REMOVED, SKIPPED, UPDATED, Limits, ingest
from ragapp.sandbox import Sandbox
from ragapp.store import ChromaPlace, StoreBusyError, StoreError, open_store
from ragapp.watch import watch

HOSTILE = Limits(parse_timeout_s=3, parse_memory_mb=1024, max_file_mb=1, loader="hostile:load")


@pytest.fixture
def store_at(tmp_path, open_test_store):
    """Opens a store folder under the test's temp folder, embedded or on a Chroma server."""
    return lambda name="store": open_test_store(tmp_path / name)


def _run(folder, store, embedder=None, **options):
    options.setdefault("limits", HOSTILE)
    return ingest([folder], store, embedder or HashEmbedder(), chunk_size=40, chunk_overlap=5, **options)


def _outcomes(report):
    return {o.source: o for o in report.outcomes}


def _state(store):
    """Everything a clean run decides: Chroma's passage ids, the manifest, the lexical index."""
    chroma_ids = sorted(store._collection.get(include=[])["ids"])
    files = sorted((r.source, r.content_hash, r.passages, r.recipe) for r in store.documents())
    return chroma_ids, files, store._manifest.indexed_passages(store.name)


@pytest.fixture
def hostile_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe office opens at nine and closes at six.\n")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "binary.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "cp1252.txt").write_bytes("Caf\u00e9 prices rose by 5\u20ac \u201cquietly\u201d.".encode("cp1252"))
    pdf = write_pdf(tmp_path / "whole.pdf", [["A page about parking permits for staff."]]).read_bytes()
    (folder / "truncated.pdf").write_bytes(pdf[: len(pdf) // 2])
    (folder / "forever.slow.txt").write_text("never read\n")
    (folder / "greedy.hog.txt").write_text("never read\n")
    (folder / "segfault.crash.txt").write_text("never read\n")
    (folder / "huge.txt").write_bytes(b"all work and no play\n" * 100_000)  # 2.1 MB, over 1 MB
    (folder / "slides.key").write_bytes(b"PK\x03\x04")
    return folder


def test_every_hostile_file_gets_one_clear_outcome_and_the_rest_is_stored(tmp_path, hostile_folder, store_at):
    store = store_at()
    started = time.monotonic()
    report = _run(hostile_folder, store)
    took = time.monotonic() - started
    outcomes = _outcomes(report)
    assert len(report.outcomes) == len(outcomes) == 10  # every file, once
    assert outcomes["good.md"].status == ADDED
    assert outcomes["cp1252.txt"].status == ADDED  # not UTF-8, still text
    assert "\u20ac" in store.passages_of(next(r.doc_id for r in store.documents() if r.source == "cp1252.txt"))[0].text
    expected = {
        "empty.txt": (FAILED, "empty file"),
        "binary.txt": (FAILED, "binary data"),
        "truncated.pdf": (FAILED, "damaged PDF"),
        "forever.slow.txt": (FAILED, "timed out: reading took longer than 3 s"),
        "greedy.hog.txt": (FAILED, "memory limit (1024 MB)"),
        "segfault.crash.txt": (FAILED, "crashed"),
        "huge.txt": (SKIPPED, "over the size limit (2.1 MB; the limit is 1 MB)"),
        "slides.key": (SKIPPED, "unsupported file type"),
    }
    for source, (status, reason) in expected.items():
        assert (outcomes[source].status, reason in outcomes[source].reason) == (status, True), outcomes[source]
    assert {r.source for r in store.documents()} == {"good.md", "cp1252.txt"}
    assert took < 30  # the endless file cost its time limit, not forever


def test_a_file_is_not_timed_out_for_the_time_its_worker_takes_to_start(tmp_path, store_at):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("one.md", "two.md", "three.md"):
        (folder / name).write_text(f"# {name}\n\nThe canteen serves soup on Mondays.\n")
    # Each worker takes 2.5 s to start, and a file may take 1 s to read.
    report = _run(folder, store_at(), limits=Limits(parse_timeout_s=1, parse_memory_mb=1024, max_file_mb=1, loader="slow_start:load"))
    assert {o.source: (o.status, o.reason) for o in report.outcomes} == {
        name: (ADDED, "") for name in ("one.md", "two.md", "three.md")
    }


def test_a_worker_that_cannot_start_fails_the_file_this_time_only(tmp_path, store_at, monkeypatch):
    from ragapp import sandbox

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "one.md").write_text("# One\n\nThe canteen serves soup on Mondays.\n")
    store = store_at()
    slow = Limits(parse_timeout_s=1, parse_memory_mb=1024, max_file_mb=1, loader="slow_start:load")
    monkeypatch.setattr(sandbox, "START_LIMIT_S", 1.0)  # the worker takes 2.5 s to start
    failed = _outcomes(_run(folder, store, limits=slow))["one.md"]
    assert (failed.status, failed.reason) == (FAILED, "the reader did not start within 1 s")
    monkeypatch.setattr(sandbox, "START_LIMIT_S", 60.0)
    assert _outcomes(_run(folder, store, limits=slow))["one.md"].status == ADDED  # read again, not remembered


def test_an_unchanged_broken_file_is_not_read_again(tmp_path, hostile_folder, store_at):
    store = store_at()
    _run(hostile_folder, store)
    started = time.monotonic()
    again = _outcomes(_run(hostile_folder, store))
    assert time.monotonic() - started < 2.5  # the endless file is not given another 3 s
    assert again["forever.slow.txt"].status == FAILED and "timed out" in again["forever.slow.txt"].reason
    assert again["good.md"].status == "unchanged"
    # Given more time, it is tried again.
    retried = _outcomes(_run(hostile_folder, store, limits=Limits(parse_timeout_s=2, parse_memory_mb=1024, max_file_mb=1, loader="hostile:load")))
    assert "longer than 2 s" in retried["forever.slow.txt"].reason
    # Fixed, it is stored.
    (hostile_folder / "empty.txt").write_text("Now the file has text about the canteen menu.\n")
    assert _outcomes(_run(hostile_folder, store))["empty.txt"].status == ADDED


def test_an_interrupted_write_is_undone_and_redone_to_the_state_of_a_clean_run(tmp_path, sample_copy, store_at):
    clean = store_at("clean")
    _run(sample_copy, clean, limits=Limits())
    store = store_at()
    manifest = store._manifest
    real_put, calls = manifest.put, []

    def crash_on_third(*args):  # dies after Chroma holds the file's passages, before the manifest
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_put(*args)

    manifest.put = crash_on_third
    with pytest.raises(KeyboardInterrupt):
        _run(sample_copy, store, limits=Limits())
    manifest.put = real_put
    # The file being recorded is unfinished, and so are the others stored in the same write; the
    # ones recorded before it are not.
    unfinished = set(manifest.unfinished(store.name))
    assert calls[2][1].doc_id in unfinished and not {c[1].doc_id for c in calls[:2]} & unfinished
    # Meanwhile the half-written file was deleted: a clean run would never have seen it.
    half_written = Path(calls[2][1].path)
    half_written.unlink()
    report = _run(sample_copy, store, limits=Limits(), prune=True)
    assert not manifest.unfinished(store.name)
    clean_again = store_at("clean-again")
    _run(sample_copy, clean_again, limits=Limits())
    assert _state(store) == _state(clean_again)
    assert half_written.name not in {Path(o.source).name for o in report.outcomes}


def test_an_interrupted_reset_finishes_before_anything_else(tmp_path, sample_copy, store_at):
    store = store_at()
    _run(sample_copy, store, limits=Limits())
    store._manifest.begin(store.name, "*")  # as if a reset died at once
    other = tmp_path / "other"
    other.mkdir()
    (other / "one.md").write_text("# One\n\nOnly this file should be left.\n")
    _run(other, store, limits=Limits())
    assert [r.source for r in store.documents()] == ["one.md"]
    assert len(_state(store)[0]) == store.documents()[0].passages


def test_a_second_writer_waits_then_gives_up_with_a_clear_message(tmp_path, sample_copy, store_at):
    store = store_at()
    heard = []
    with store.lock.hold(5, what="ingest of another folder"):
        with pytest.raises(StoreBusyError, match=r"the store is busy: another writer \(ingest of another folder, pid \d+"):
            _run(sample_copy, store, limits=Limits(), wait_s=0.5, on_wait=heard.append)
    assert len(heard) == 1 and heard[0].startswith("waiting for another writer (ingest of another folder")
    assert store.documents() == []


def test_a_second_writer_goes_on_once_the_first_is_done(tmp_path, sample_copy, store_at):
    store = store_at()
    first_done = threading.Event()

    def first_writer():
        with store.lock.hold(5):
            time.sleep(1.0)
            first_done.set()

    thread = threading.Thread(target=first_writer)
    thread.start()
    time.sleep(0.2)
    heard = []
    report = _run(sample_copy, store, limits=Limits(), wait_s=10, on_wait=heard.append)
    thread.join()
    assert first_done.is_set() and heard
    assert report.count(ADDED) == 8 and len(store.documents()) == 8


def test_watch_reflects_an_add_a_change_and_a_delete(tmp_path, store_at):
    folder = tmp_path / "watched"
    folder.mkdir()
    (folder / "first.md").write_text("# First\n\nThe first note is about bicycles.\n")
    store = store_at()
    embedder = HashEmbedder()
    reports = []
    stop = threading.Event()

    def sync():
        reports.append(_run(folder, store, embedder, limits=Limits(), prune=True))

    thread = threading.Thread(target=watch, args=([folder], sync, stop), kwargs={"poll_s": 0.1, "settle_s": 0.3})
    thread.start()

    def texts():
        return " ".join(p.text for r in store.documents() for p in store.passages_of(r.doc_id))

    def eventually(condition, what):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if condition():
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"watch did not reflect {what}")

    try:
        eventually(lambda: "bicycles" in texts(), "the files already there")
        changed_at = time.monotonic()
        (folder / "second.md").write_text("# Second\n\nThe second note is about ferries.\n")
        seen = eventually(lambda: "ferries" in texts(), "an added file")
        assert seen - changed_at < 5
        (folder / "first.md").write_text("# First\n\nThe first note is now about trams.\n")
        eventually(lambda: "trams" in texts() and "bicycles" not in texts(), "a changed file")
        (folder / "second.md").unlink()
        eventually(lambda: [r.source for r in store.documents()] == ["first.md"], "a deleted file")
    finally:
        stop.set()
        thread.join()
    statuses = [o.status for r in reports for o in r.outcomes]
    assert ADDED in statuses and UPDATED in statuses and REMOVED in statuses


def test_a_process_holding_over_a_thousand_descriptors_still_reads_files(tmp_path, store_at):
    """A long-lived process (the app, with its many stores and sessions) can hold more than 1,024
    open files; the workers' pipes are numbered past them and must still be read."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe office opens at nine and closes at six.\n")
    held = [open(os.devnull) for _ in range(1100)]
    try:
        assert max(f.fileno() for f in held) > 1024
        report = _run(folder, store_at())
    finally:
        for handle in held:
            handle.close()
    assert _outcomes(report)["good.md"].status == ADDED


def _watching(folder, sync, problems):
    stop = threading.Event()
    thread = threading.Thread(
        target=watch, args=([folder], sync, stop),
        kwargs={"poll_s": 0.05, "settle_s": 0.15, "on_problem": problems.append, "retry_s": 0.3},
    )
    thread.start()
    return stop, thread


def _until(condition, what, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"the watch did not {what}")


def test_a_watched_folder_that_goes_away_or_looks_unmounted_is_never_pruned(tmp_path):
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nalpha\n")
    syncs, problems = [], []
    stop, thread = _watching(folder, lambda: syncs.append(sorted(p.name for p in folder.glob("*"))), problems)
    try:
        _until(lambda: syncs == [["a.md"]], "sync at start")
        moved = tmp_path / "away"
        folder.rename(moved)  # the share is gone
        _until(lambda: any("is missing" in p for p in problems), "say the folder is missing")
        time.sleep(0.6)
        assert syncs == [["a.md"]], "a sync ran while the folder was gone (it would prune everything)"
        moved.rename(folder)
        folder.joinpath("b.md").write_text("# B\n\nbeta\n")
        _until(lambda: syncs[-1] == ["a.md", "b.md"], "sync once it was back")
        assert problems[-1] == "in sync again"
        # An unmounted share leaves its mount point behind, empty: not taken for "everything deleted".
        for path in folder.glob("*"):
            path.unlink()
        _until(lambda: any("is empty now" in p for p in problems), "say the folder looks unmounted")
        time.sleep(0.6)
        assert syncs[-1] == ["a.md", "b.md"]
        assert all("nothing is removed" in p for p in problems if "missing" in p or "empty" in p)
    finally:
        stop.set()
        thread.join(5)


def test_a_failed_sync_is_reported_and_the_watch_goes_on(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text("# A\n\nalpha\n")
    calls, problems = [], []

    def sync():
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise StoreError("the store is busy: another ingest is writing")

    stop, thread = _watching(folder, sync, problems)
    try:
        _until(lambda: len(calls) >= 3, "try the sync again after it failed")
        assert thread.is_alive()
        assert problems[0].startswith("the sync failed (the store is busy") and "trying again" in problems[0]
        _until(lambda: problems[-1] == "in sync again", "say it is in sync again")
    finally:
        stop.set()
        thread.join(5)


ROGUE = Limits(parse_timeout_s=3, parse_memory_mb=1024, loader="hostile_worker:load")


def _parse_one(path, limits=ROGUE):
    """The Parsed of one file, read by a real worker under `limits`."""
    sandbox = Sandbox(1, limits.parse_timeout_s, limits.parse_memory_mb, limits.loader)
    (parsed,) = sandbox.parse([(path, path.parent)])
    return parsed


def test_a_reply_that_is_no_document_fails_its_file_and_runs_no_code_in_the_app(tmp_path):
    """A worker taken over by a parser exploit writes what it likes into its reply pipe: the app
    decodes JSON only, checks every field, and fails that file with a reason."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\n\nThe office opens at nine and closes at six.\n")
    expected = {
        "exploit.pickle.txt": "the reader sent a malformed reply (not JSON)",
        "noise.garbage.txt": "the reader sent a malformed reply (a reply of 18446744073709551615 bytes, over the limit",
        "pages.wrongtypes.txt": "the reader sent a malformed reply (not a document: pages is str)",
        "impostor.othername.txt": "the reader sent a malformed reply (a document of another file)",
        "half.stall.txt": "timed out: reading took longer than 3 s",
        "dict.notdoc.txt": "the reader returned dict, not a document",
    }
    for name in expected:
        (folder / name).write_text("never read as text\n")
    store_dir = tmp_path / "store"
    store = open_store(store_dir, "default", HashEmbedder.name, ChromaPlace("embedded", store_dir))
    started = time.monotonic()
    outcomes = _outcomes(_run(folder, store, limits=ROGUE))
    assert time.monotonic() - started < 20  # the stalled reply cost its time limit, no more
    for name, reason in expected.items():
        assert outcomes[name].status == FAILED and reason in outcomes[name].reason, outcomes[name]
    assert outcomes["good.md"].status == ADDED, outcomes["good.md"]
    assert [r.source for r in store.documents()] == ["good.md"]  # nothing of a forged reply is stored
    assert not (folder / "exploit.pickle.txt.pwned").exists()  # unpickling it would have made this


def test_a_worker_sees_none_of_the_apps_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("RAGAPP_ADMIN_TOKEN", "token-4f9a")
    monkeypatch.setenv("RAGAPP_PROXY_SECRET", "proxy-secret-0b2e")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-key-77c1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxyuser:hunter2@proxy.internal:3128")
    path = tmp_path / "dump.env.txt"
    path.write_text("never read as text\n")
    text = _parse_one(path).document.pages[0].text
    assert "PATH=" in text and "OMP_NUM_THREADS=1" in text  # it is the worker's environment
    for secret in ("token-4f9a", "proxy-secret-0b2e", "sk-key-77c1", "hunter2", "RAGAPP_", "OPENAI_API_KEY"):
        assert secret not in text


@pytest.mark.parametrize("name, reason", [
    ("fill.bigwrite.txt", "the reader tried to write a file over 64 MB"),
    ("many.fds.txt", "Too many open files"),
])
def test_a_worker_may_not_write_big_files_or_open_many(tmp_path, name, reason):
    path = tmp_path / name
    path.write_text("The canteen menu changes on Mondays.\n")
    parsed = _parse_one(path)
    assert parsed.document is None and reason in parsed.reason
    written = path.with_suffix(".out")
    assert not written.exists() or written.stat().st_size <= 64 * 1024 * 1024


def test_files_stored_together_are_told_apart_when_one_cannot_be_stored(tmp_path, store_at):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("one.md", "two.md", "three.md"):
        (folder / name).write_text(f"# {name}\n\nThe canteen serves soup on Mondays.\n")
    store = store_at()
    real_upsert = store._upsert

    def refuse_two(passages, vectors):  # as a store refuses a record it cannot hold
        if any(p.source == "two.md" for p in passages):
            raise ValueError("a record the store cannot hold")
        return real_upsert(passages, vectors)

    store._upsert = refuse_two
    outcomes = _outcomes(_run(folder, store, limits=Limits()))
    assert {name: o.status for name, o in outcomes.items()} == {"one.md": ADDED, "two.md": FAILED, "three.md": ADDED}
    assert "a record the store cannot hold" in outcomes["two.md"].reason
    assert {r.source for r in store.documents()} == {"one.md", "three.md"}
    assert len(_state(store)[0]) == sum(r.passages for r in store.documents())  # nothing of two.md is left
