"""A real `chroma run` server for tests, on a free port, and the clean-up of local servers that tests
started (each test's store folder gets its own, which would otherwise wait out its idle time)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragapp.store.server import CHROMA_RUN, free_port


class ChromaServer:
    """`chroma run --path DIR --host 127.0.0.1 --port PORT`, as a team runs it."""

    def __init__(self, path: Path, port: int | None = None) -> None:
        self.path, self.port = path, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ChromaServer":
        import httpx

        log = open(self.path.parent / f"{self.path.name}.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHROMA_RUN, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None, "chroma run exited"
            time.sleep(0.1)
        raise AssertionError("chroma run did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)

    def empty(self) -> None:
        """Delete every collection on the server."""
        import chromadb
        from chromadb.config import Settings

        client = chromadb.HttpClient(host="127.0.0.1", port=self.port, settings=Settings(anonymized_telemetry=False))
        for collection in client.list_collections():
            client.delete_collection(collection.name)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server") / "data").start()
    yield server
    server.stop()


def stop_local_servers(under: Path) -> None:
    """Stop the local Chroma servers whose store folders lie under `under` (the tests' temp folder)."""
    under = str(under.resolve())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if "ragapp.store.server" in words and any(w.startswith(under) for w in words):
            try:
                os.kill(int(proc.name), signal.SIGTERM)
            except OSError:
                pass
