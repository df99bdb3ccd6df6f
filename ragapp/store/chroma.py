"""Where a store's vectors live, behind one small interface: `ChromaConnection.client()`.

Chroma's embedded client (PersistentClient) is safe for one process only (its maintainers say so,
and two processes on one folder have damaged its HNSW files), while the app, `ingest`,
`ingest --watch`, `ragapp ask`/`eval` and the HTTP API are several processes on one store. So one
process owns a store's Chroma folder, and the others ask it:

- local (the default): a `chroma run` server for the store folder, on 127.0.0.1, started by the
  first process that needs it (`python -m ragapp.store.server`, which supervises it) and shared by
  every process of this machine. It stops by itself once no process has used it for `chroma_idle_s`.
- server: `chroma_url` names a `chroma run` server that the team runs, shared by several hosts.
- embedded: Chroma inside this process, for a process that is alone with its store (a script, the
  unit tests). The folder is locked to it: any other process that tries is told so, in words.

Whatever the way, a reader sees every write of any process on its next question: there is one
Chroma, and no process keeps a copy of it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

from ragapp.store.errors import StoreError, StoreUnavailable

EMBEDDED, LOCAL, SERVER = "embedded", "local", "server"
OWNER_FILE = "chroma.owner"  # locked by whoever has the Chroma folder open: one process, ever
USERS_FILE = "chroma.users"  # locked (shared) by every process using the local server
START_FILE = "chroma.start"  # locked while a process starts the local server
SERVER_FILE = "chroma-server.json"  # where the local server listens: {"pid", "port", "version"}
SERVER_LOG = "chroma-server.log"
START_TIMEOUT_S = 75.0
# sha256 of /openapi.json as served by `chroma run` of each chromadb release ragapp has been pinned
# to (tests/test_store_server.py checks the installed one against a real server).
SERVER_FINGERPRINTS = {
    "1.5.9": "92790db14fa4f534e8ed85161ccb627f3664c7cb85b1d18ca28e82b2544378a5",
}


@dataclass(frozen=True)
class ChromaPlace:
    """How to reach a store's Chroma: the mode, the store folder, and the server's URL and headers."""

    mode: str
    store_dir: Path
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    timeout_s: float = 30.0
    idle_s: float = 300.0

    def describe(self) -> str:
        if self.mode == SERVER:
            return f"the Chroma server at {self.url}"
        if self.mode == LOCAL:
            return f"the local Chroma server of {self.store_dir}"
        return f"Chroma in this process ({self.store_dir})"


def chroma_version() -> str:
    import chromadb

    return chromadb.__version__


def _no_telemetry():
    from chromadb.config import Settings as ChromaSettings

    # The product promises that nothing leaves the machine: no telemetry, ever.
    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


class ChromaConnection:
    """One process's client of one store's Chroma, made on first use and kept.

    After a failure to reach a server, `forget()` drops the client: the next call connects afresh
    (and in local mode starts the server again if it has gone)."""

    def __init__(self, place: ChromaPlace) -> None:
        self.place = place
        self._client: Any = None
        self._lock = threading.RLock()  # a failed connect forgets the client while holding it
        self._held: list[Any] = []  # lock files held for as long as this process uses the store

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                with self.translate_errors():
                    self._client = self._connect()
            return self._client

    def status(self) -> str:
        """Where the vectors are and whether the server answers, in words (Settings, `ragapp settings`)."""
        try:
            self.client()
        except StoreError as exc:
            return str(exc)
        where = self.place.url if self.place.mode == SERVER else running_server(self.place.store_dir)
        return f"{self.place.describe()}{f' ({where})' if where else ''}, chromadb {chroma_version()}: answering"

    def forget(self) -> None:
        with self._lock:
            self._client = None

    @contextmanager
    def translate_errors(self) -> Iterator[None]:
        """A server that cannot be reached becomes StoreUnavailable, with what to do about it."""
        import httpx

        try:
            yield
        except (httpx.TransportError, ConnectionError) as exc:
            self.forget()
            raise StoreUnavailable(self._unreachable(exc)) from exc
        except ValueError as exc:
            if "Could not connect" not in str(exc):
                raise
            self.forget()
            raise StoreUnavailable(self._unreachable(exc)) from exc

    def _unreachable(self, exc: Exception) -> str:
        reason = type(exc).__name__ if isinstance(exc, ValueError) else (str(exc) or type(exc).__name__)
        if self.place.mode == SERVER:
            return (
                f"the document store is not answering: {self.place.describe()} cannot be reached ({reason}); "
                "check that `chroma run` is running there and RAGAPP_CHROMA_URL, then ask again"
            )
        return f"the document store is not answering: {self.place.describe()} cannot be reached ({reason}); ask again"

    def _connect(self) -> Any:
        if self.place.mode == EMBEDDED:
            return self._embedded()
        if self.place.mode == SERVER:
            return self._http(self.place.url, dict(self.place.headers))
        return self._local()

    # --- embedded ------------------------------------------------------------------------------

    def _embedded(self) -> Any:
        import chromadb

        store_dir = self.place.store_dir
        store_dir.mkdir(parents=True, exist_ok=True)
        if not self._held:
            owner = open(store_dir / OWNER_FILE, "a+")
            try:
                fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner.close()
                raise StoreError(
                    f"the store {store_dir} is in use by another process (its local Chroma server, or another "
                    "process with RAGAPP_CHROMA=embedded): an embedded Chroma must be alone with its store. "
                    "Use RAGAPP_CHROMA=local (the default) to share the store between processes."
                ) from None
            self._held.append(owner)
        return chromadb.PersistentClient(path=str(store_dir), settings=_no_telemetry())

    # --- a server ------------------------------------------------------------------------------

    def _http(self, url: str, headers: dict[str, str]) -> Any:
        import chromadb
        import httpx

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StoreError(f"RAGAPP_CHROMA_URL must be an http:// or https:// address, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.place.mode == SERVER:
            self._check_version(url, headers)
        client = chromadb.HttpClient(
            host=parts.hostname, port=port, ssl=parts.scheme == "https", headers=headers or None, settings=_no_telemetry()
        )
        session = getattr(getattr(client, "_server", None), "_session", None)
        if isinstance(session, httpx.Client):
            # Chroma's client waits for ever; a person asking a question should not.
            session.timeout = httpx.Timeout(self.place.timeout_s)
        return client

    def _check_version(self, url: str, headers: dict[str, str]) -> None:
        """The server must run the chromadb this ragapp is pinned to. Chroma's servers all report
        API version "1.0.0", so the server's interface description is compared instead."""
        import httpx

        ours = chroma_version()
        expected = SERVER_FINGERPRINTS.get(ours)
        response = httpx.get(f"{url}/openapi.json", headers=headers, timeout=self.place.timeout_s)
        if response.status_code != 200 or expected is None:
            return  # a proxy that hides it, or a chromadb without a recorded fingerprint: cannot tell
        try:
            described = response.json()
            reported = str(described["info"]["version"])
        except (ValueError, KeyError, TypeError):
            described, reported = None, "unknown"
        if interface_fingerprint(described) != expected:
            raise StoreError(
                f"{self.place.describe()} does not run chromadb {ours}, the version this ragapp is pinned to "
                f"(its interface differs; it reports API version {reported}): run the same version on both "
                f"ends (pip install chromadb=={ours} where the server runs, then restart `chroma run`)"
            )

    # --- the local server ----------------------------------------------------------------------

    def _local(self) -> Any:
        store_dir = self.place.store_dir
        store_dir.mkdir(parents=True, exist_ok=True)
        if not self._held:
            # A shared lock for as long as this process lives: the server sees that someone uses it.
            users = open(store_dir / USERS_FILE, "a+")
            fcntl.flock(users, fcntl.LOCK_SH)
            self._held.append(users)
        address = running_server(store_dir)
        if address is None:
            address = self._start_server()
        return self._http(address, {})

    def _start_server(self) -> str:
        store_dir = self.place.store_dir
        with open(store_dir / START_FILE, "a+") as start:
            fcntl.flock(start, fcntl.LOCK_EX)  # one starter at a time; the others wait for its server
            address = running_server(store_dir)
            if address is not None:
                return address
            supervisor = subprocess.Popen(
                [sys.executable, "-m", "ragapp.store.server", str(store_dir.resolve()), "--idle-s", f"{self.place.idle_s:g}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,  # not stopped by the Ctrl-C of the process that started it
            )
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                address = running_server(store_dir)
                if address is not None:
                    return address
                if supervisor.poll() is not None:
                    break
                time.sleep(0.1)
            raise StoreError(f"could not start the local Chroma server of {store_dir}: {server_log_tail(store_dir)}")


def interface_fingerprint(described: Any) -> str:
    """sha256 of a server's OpenAPI description, in a canonical order (the server's own order changes
    from one start to the next)."""

    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: canonical(item) for key, item in value.items()}
        if isinstance(value, list):
            return sorted((canonical(item) for item in value), key=lambda item: json.dumps(item, sort_keys=True))
        return value

    text = json.dumps(canonical(described), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def running_server(store_dir: Path) -> str | None:
    """The address of the store's local Chroma server when it runs and answers, else None."""
    import httpx

    pid = _supervisor(store_dir)
    if pid is None:
        return None
    try:
        address = f"http://127.0.0.1:{int(json.loads((store_dir / SERVER_FILE).read_text())['port'])}"
        if httpx.get(f"{address}/api/v2/heartbeat", timeout=5).status_code == 200:
            return address
    except (OSError, ValueError, KeyError, TypeError, httpx.HTTPError):
        pass
    return None


def _supervisor(store_dir: Path) -> int | None:
    """The pid of the process serving this store folder, as chroma-server.json names it, when that
    process is alive and is this folder's server. A file left by a killed server names a port that
    another store's server may have since: it must never be taken for this store's."""
    try:
        pid = int(json.loads((store_dir / SERVER_FILE).read_text())["pid"])
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if b"ragapp.store.server" in command and str(store_dir.resolve()).encode() in command:
        return pid
    return None


def stop_local_server(store_dir: Path) -> None:
    """Stop the local Chroma server of a store folder now, if one runs (for a temporary store that is
    about to be deleted, rather than waiting out its idle time)."""
    pid = _supervisor(store_dir)
    if pid is not None:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass


def server_log_tail(store_dir: Path, lines: int = 5) -> str:
    try:
        tail = (store_dir / SERVER_LOG).read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "it wrote no log"
    return " / ".join(line.strip() for line in tail) or "it wrote no log"


def parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    """HTTP headers from 'Name: value' pairs separated by new lines or ';' (RAGAPP_CHROMA_HEADERS)."""
    headers = []
    for item in text.replace("\n", ";").split(";"):
        if not item.strip():
            continue
        name, colon, value = item.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"cannot read the header {item.strip()!r}: write 'Name: value'")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


_connections: dict[tuple, ChromaConnection] = {}
_connections_lock = threading.Lock()


def connect(place: ChromaPlace) -> ChromaConnection:
    """This process's one connection to the Chroma of `place` (a folder is opened once per process)."""
    key = (place.mode, str(place.store_dir.resolve()) if place.mode != SERVER else place.url, place.headers)
    with _connections_lock:
        if key not in _connections:
            _connections[key] = ChromaConnection(place)
        return _connections[key]

