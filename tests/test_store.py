"""One store shared by several processes, and Chroma as a server.

Real processes and real Chroma throughout (the store's local server, `chroma run`); only the
embedder and the model are the deterministic fakes, so that these tests stay quick."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import ROOT
from fakes import HashEmbedder, ScriptedGenerator
from store_server import ChromaServer, free_port

from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
from ragapp.store import ChromaPlace, StoreError, StoreUnavailable, open_store
from ragapp.store.chroma import SERVER_FILE, interface_fingerprint

WRITER = Path(__file__).with_name("store_writer.py")


def _write_in_another_process(store_dir: Path, folder: Path, *options: str, env: dict | None = None) -> dict:
    """Ingest `folder` into the store from a separate Python process (local Chroma server)."""
    done = subprocess.run(
        [sys.executable, str(WRITER), str(store_dir), str(folder), *options],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _note(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.md").write_text(f"# {name.title()}\n\n{text}\n")


def _sources(answer) -> set[str]:
    return {c.source for c in answer.citations} | {h.passage.source for h in answer.hits}


def test_a_running_pipeline_answers_from_what_other_processes_write(tmp_path):
    """The plain-script case: a Pipeline stays open while another process adds, changes, removes
    files and resets the collection; each next question sees the store as it is now."""
    store_dir, folder = tmp_path / "store", tmp_path / "notes"
    _note(folder, "kestrel", "The access code of the Kestrel vault is 4821.")
    settings = Settings(store_dir=store_dir, chunk_size=60, chunk_overlap=10, min_relevance=0.5, min_support=0.5)
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    pipeline.ingest([folder])
    assert "kestrel.md" in _sources(pipeline.ask("What is the access code of the Kestrel vault?"))

    _note(folder, "osprey", "The access code of the Osprey vault is 7310.")
    _write_in_another_process(store_dir, folder)
    answer = pipeline.ask("What is the access code of the Osprey vault?")
    assert "7310" in answer.text and "osprey.md" in _sources(answer)

    _note(folder, "osprey", "The access code of the Osprey vault was changed to 5555.")
    _write_in_another_process(store_dir, folder)
    answer = pipeline.ask("What is the access code of the Osprey vault?")
    assert "5555" in answer.text and "7310" not in answer.text

    (folder / "kestrel.md").unlink()
    _write_in_another_process(store_dir, folder, "--prune")
    answer = pipeline.ask("What is the access code of the Kestrel vault?")
    assert "kestrel.md" not in _sources(answer) and "4821" not in answer.text

    _write_in_another_process(store_dir, folder, "--reset")
    answer = pipeline.ask("What is the access code of the Osprey vault?")
    assert "5555" in answer.text
    assert {d.source for d in pipeline.documents()} == {"osprey.md"}


def test_a_running_pipeline_keeps_answering_while_another_process_writes_thousands_of_passages(tmp_path):
    """Questions asked while another process writes (past Chroma's compaction thresholds) are
    answered, none fails, and the finished store holds every passage once."""
    store_dir, folder = tmp_path / "store", tmp_path / "bulk"
    for n in range(150):
        _note(folder, f"bulk-{n:03d}", "\n\n".join(f"Item {n}-{i} of the bulk register is filed under shelf {n * 100 + i}." for i in range(40)))
    _note(tmp_path / "facts", "heron", "The access code of the Heron vault is 9042.")
    settings = Settings(store_dir=store_dir, chunk_size=60, chunk_overlap=10, min_relevance=0.5, min_support=0.5)
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    pipeline.ingest([tmp_path / "facts"])
    errors, answers = [], []
    writer = threading.Thread(target=lambda: answers.append(_write_in_another_process(store_dir, folder)))
    writer.start()
    while writer.is_alive():
        try:
            answer = pipeline.ask("What is the access code of the Heron vault?")
            assert "9042" in answer.text, answer.text
        except Exception as exc:  # noqa: BLE001 (every failure is the finding)
            errors.append(repr(exc))
    writer.join()
    assert not errors
    store = pipeline.store()
    assert store.count() == sum(d.passages for d in store.documents()) > 1000


def test_the_local_server_is_shared_then_stops_when_no_process_uses_it(tmp_path):
    store_dir = tmp_path / "store"
    _note(tmp_path / "notes", "kestrel", "The access code of the Kestrel vault is 4821.")
    first = _write_in_another_process(store_dir, tmp_path / "notes", env={"RAGAPP_CHROMA_IDLE_S": "2"})
    second = _write_in_another_process(store_dir, tmp_path / "notes", env={"RAGAPP_CHROMA_IDLE_S": "2"})
    assert first["server_pid"] == second["server_pid"], "the second process used the running server"
    deadline = time.monotonic() + 30
    while (store_dir / SERVER_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not (store_dir / SERVER_FILE).exists(), "the idle server stopped"
    # The next process starts one again, and finds everything where it was.
    third = _write_in_another_process(store_dir, tmp_path / "notes")
    assert third["server_pid"] != first["server_pid"] and third["passages"] == first["passages"]


def test_a_killed_local_server_is_started_again_on_the_next_question(tmp_path, sample_copy):
    settings = Settings(store_dir=tmp_path / "store", chunk_size=60, chunk_overlap=10, min_relevance=0.5, min_support=0.5)
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    pipeline.ingest([sample_copy])
    before = pipeline.ask("How many days of paid annual leave?")
    pid = json.loads((settings.store_dir / SERVER_FILE).read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    after = pipeline.ask("How many days of paid annual leave?")
    assert after.text == before.text
    assert json.loads((settings.store_dir / SERVER_FILE).read_text())["pid"] != pid


def test_an_embedded_store_is_locked_to_its_process(tmp_path, sample_copy):
    store_dir = tmp_path / "store"
    _write_in_another_process(store_dir, sample_copy / "handbook")  # its local server may still run
    with pytest.raises(StoreError, match="in use by another process"):
        open_store(store_dir, "default", HashEmbedder.name, ChromaPlace("embedded", store_dir)).count()


def test_a_second_host_on_a_shared_server_refuses_a_collection_it_does_not_keep(tmp_path, sample_copy, chroma_server):
    def host(name: str):
        store_dir = tmp_path / name
        return open_store(store_dir, "handbook", HashEmbedder.name, ChromaPlace("server", store_dir, chroma_server.url))

    first = Pipeline(Settings(store_dir=tmp_path / "first", chroma_url=chroma_server.url), embedder=HashEmbedder(), generator=ScriptedGenerator())
    first.ingest([sample_copy / "handbook"], collection="handbook")
    try:
        second = host("second")
        for attempt in (second.count, lambda: second.query([0.0] * 128, 3)):
            with pytest.raises(StoreError, match="kept by another manifest"):
                attempt()
        # Nothing was written twice.
        assert host("first").count() == sum(d.passages for d in first.documents("handbook"))
    finally:
        chroma_server.empty()


def test_a_stopped_server_gives_a_clear_message_then_answers_again_when_it_is_back(tmp_path, sample_copy):
    server = ChromaServer(tmp_path / "chroma").start()
    settings = Settings(
        store_dir=tmp_path / "store", chroma_url=server.url, chroma_timeout_s=5,
        chunk_size=60, chunk_overlap=10, min_relevance=0.5, min_support=0.5,
    )
    pipeline = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator())
    pipeline.ingest([sample_copy])
    answered = pipeline.ask("How many days of paid annual leave?")
    server.stop()
    for _ in range(2):  # the second finds no client and must connect again, then fail the same way
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=f"the Chroma server at {server.url} cannot be reached"):
            pipeline.ask("How many days of paid annual leave?")
        assert time.monotonic() - started < 10
    server.start()  # same folder, same port
    try:
        assert pipeline.ask("How many days of paid annual leave?").text == answered.text
    finally:
        server.stop()


class _OtherChroma(BaseHTTPRequestHandler):
    """Answers like a Chroma server of another version: its interface description differs."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = json.dumps({"openapi": "3.1.0", "info": {"title": "chroma-frontend", "version": "1.0.0"}, "paths": {}})
        self.send_response(200 if self.path in ("/openapi.json", "/api/v2/heartbeat") else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def test_a_server_of_another_chromadb_version_is_reported_in_words(tmp_path):
    port = free_port()
    other = ThreadingHTTPServer(("127.0.0.1", port), _OtherChroma)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{port}"
        store = open_store(tmp_path / "store", "default", HashEmbedder.name, ChromaPlace("server", tmp_path / "store", url))
        with pytest.raises(StoreError, match=r"does not run chromadb 1\.5\.9.*pip install chromadb==1\.5\.9"):
            store.count()
    finally:
        other.shutdown()


def test_the_recorded_fingerprint_is_that_of_the_installed_chromadb(chroma_server):
    import httpx

    from ragapp.store.chroma import SERVER_FINGERPRINTS, chroma_version

    served = httpx.get(f"{chroma_server.url}/openapi.json").json()
    assert SERVER_FINGERPRINTS.get(chroma_version()) == interface_fingerprint(served)


def test_a_manifest_that_lists_vectors_the_server_lacks_says_how_to_store_them_again(tmp_path, sample_copy, chroma_server):
    store_dir = tmp_path / "store"
    here = Settings(store_dir=store_dir, chroma="embedded", chunk_size=60, chunk_overlap=10)
    Pipeline(here, embedder=HashEmbedder(), generator=ScriptedGenerator()).ingest([sample_copy])
    moved = Pipeline(here.replace(chroma_url=chroma_server.url), embedder=HashEmbedder(), generator=ScriptedGenerator())
    try:
        with pytest.raises(StoreError, match=r"has no such collection .*ingest --reset --collection default"):
            moved.ask("How many days of paid annual leave?")
        report = moved.ingest([sample_copy], reset=True)
        assert not report.failed
        assert moved.store().count() == sum(d.passages for d in moved.documents()) > 0
    finally:
        chroma_server.empty()


def test_processes_that_start_at_once_share_one_local_server(tmp_path):
    store_dir = tmp_path / "store"
    _note(tmp_path / "notes", "kestrel", "The access code of the Kestrel vault is 4821.")
    results = []
    starters = [
        threading.Thread(target=lambda: results.append(_write_in_another_process(store_dir, tmp_path / "notes")))
        for _ in range(3)
    ]
    for starter in starters:
        starter.start()
    for starter in starters:
        starter.join()
    assert len(results) == 3 and len({r["server_pid"] for r in results}) == 1
    assert all(r["passages"] == results[0]["passages"] > 0 for r in results)


def test_a_server_file_left_by_a_killed_server_is_never_taken_for_the_store(tmp_path, chroma_server):
    """A killed server's chroma-server.json names a port that another store's server may have by now."""
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / SERVER_FILE).write_text(json.dumps({"pid": os.getpid(), "port": chroma_server.port}))
    _note(tmp_path / "notes", "kestrel", "The access code of the Kestrel vault is 4821.")
    done = _write_in_another_process(store_dir, tmp_path / "notes")
    assert done["server_pid"] != os.getpid()
    assert json.loads((store_dir / SERVER_FILE).read_text())["port"] != chroma_server.port
