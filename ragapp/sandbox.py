"""Parse files in worker processes, each with a time limit and a memory cap.

A parser fed a hostile or broken file can loop forever or eat all memory (several of pypdf's
advisories are exactly that), and nothing inside the process can stop it. So every file is parsed
in a worker process: the worker caps its own address space, and the ingest kills a worker that
runs past the time limit and starts a fresh one. A file can fail; the ingest goes on.

A parser exploit runs code in the worker, so the worker is not trusted either: it starts with
none of the app's environment (no tokens or keys to read), may not write big files or open many,
and its replies are JSON, which the app checks field by field: a reply cannot run code in the
app (a pickle can), and one that is not a document is a failed file, not an error of the app.

Workers are plain `python -m ragapp.sandbox` processes talking length-prefixed JSON over their
stdin and stdout, not multiprocessing: under Streamlit, multiprocessing's spawn would re-run the
app's script in every worker. The page renderer (ragapp.pages) runs the same way.
"""

from __future__ import annotations

import errno
import importlib
import json
import os
import queue
import resource
import selectors
import signal
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ragapp.documents import DataError, Document

DEFAULT_LOADER = "ragapp.loaders:load"
_HEADER = struct.Struct("!Q")
# A worker writes no files at all: this only stops one that has been taken over from filling the disk.
MAX_WRITE_MB = 64
# Its own pipes, a file it reads and Python's imports take fewer than a dozen descriptors.
MAX_OPEN_FILES = 64
# What the worker may inherit: enough to run Python, nothing else. The app's environment holds
# secrets (tokens, API keys, a proxy's password) that code run by a parser exploit must not see.
_PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
              "TESSDATA_PREFIX")  # where Tesseract's language data is, when not in its usual place
_REASON_CHARS = 500  # a reason is one line for a person, whatever a worker sends
# How long a new worker may take to start (Python and the reader's imports) before it says it is
# ready. A file's time limit counts from then: on a busy machine starting a worker can take longer
# than reading a file, and a file must not time out for the worker's start.
START_LIMIT_S = 60.0
_READY = {"status": "ready"}


class BadReply(Exception):
    """A worker's reply that breaks the protocol: over its size limit, not JSON, or not the
    data asked for. The message says which, for a person."""


@dataclass(frozen=True)
class Parsed:
    """What became of one file: its Document, or the reason it has none."""

    path: Path
    root: Path
    document: Any = None  # ragapp.documents.Document
    reason: str = ""
    timed_out: bool = False
    # False where the machine failed, not the file (its worker did not start): the file is read
    # again by the next ingest rather than remembered as broken.
    files_fault: bool = True


def write_frame(stream, data: bytes) -> None:
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def send(stream, value: Any) -> None:
    """Write `value` (plain data: dicts, lists, strings, numbers) as one JSON frame."""
    # ASCII escapes keep lone surrogates (which some PDFs' text holds) intact through UTF-8.
    write_frame(stream, json.dumps(value).encode("ascii"))


class FrameReader:
    """Reads the frames of a pipe piece by piece, as the data comes: a loop that watches several
    workers never waits on one that sent half a reply and stalled."""

    def __init__(self, fd: int, limit: int) -> None:
        self.fd, self.limit = fd, limit
        self._buffer = bytearray()

    def read(self) -> bytes | None:
        """Read what the pipe holds (call it when the pipe is readable, or to block): the next
        frame once complete, else None. EOFError if the pipe closes first, BadReply if the frame
        says it is over the limit."""
        have = len(self._buffer)
        if have < _HEADER.size:
            want = _HEADER.size - have
        else:
            want = _HEADER.size + _HEADER.unpack_from(self._buffer)[0] - have
        # Never past this frame's end, and in pieces: memory is taken as data arrives, not as a header promises.
        chunk = os.read(self.fd, min(want, 1 << 20))
        if not chunk:
            raise EOFError
        self._buffer += chunk
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > self.limit:
            raise BadReply(f"a reply of {size} bytes, over the limit of {self.limit}")
        if len(self._buffer) < _HEADER.size + size:
            return None
        with memoryview(self._buffer) as view:  # one copy of a reply that may be large, not two
            frame = bytes(view[_HEADER.size :])
        self._buffer = bytearray()
        return frame


def read_frame(fd: int, limit: int, deadline: float | None = None) -> bytes:
    """One frame from the pipe `fd`: EOFError if it closes first, TimeoutError at the deadline
    (monotonic), BadReply if the frame says it is over `limit` bytes."""
    reader = FrameReader(fd, limit)
    with selectors.DefaultSelector() as selector:
        # A selector, not select(): a long-lived process (the app) may hold descriptors past 1024.
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if deadline is not None and not selector.select(max(0.0, deadline - time.monotonic())):
                raise TimeoutError
            frame = reader.read()
            if frame is not None:
                return frame


def decode(data: bytes) -> Any:
    """A frame's JSON, decoded; BadReply if it is none."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser
        raise BadReply("not JSON") from None


def receive(fd: int, limit: int, deadline: float | None = None) -> Any:
    """One JSON frame from `fd`, decoded (see read_frame for what it raises)."""
    return decode(read_frame(fd, limit, deadline))


def short(reason: str) -> str:
    return reason if len(reason) <= _REASON_CHARS else reason[: _REASON_CHARS - 1] + "\u2026"


def resolve(spec: str):
    """The function a "module:function" spec names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment a worker starts with; `extra`: settings its reader needs (ragapp.ocr's)."""
    env = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
    env.update(extra or {})
    # The worker imports what this process can import (the loader may live in a test folder).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
    # A worker reads one file on one core: a library that starts a thread per core inside it
    # (OpenMP, BLAS) would fight the embedding in the ingesting process for the same cores.
    env.update(OMP_NUM_THREADS="1", OMP_THREAD_LIMIT="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def start_worker(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m module args...` with the worker environment (and `env`), its stdin and stdout piped."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # parsers warn about every oddity of a real-world file
        env=worker_env(env),
    )


def reply_stream():
    """In a worker: the stream its replies go to. Its stdout becomes stderr, so that a stray
    print (a library's, or a hostile file's doing) cannot corrupt the replies."""
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return replies


def limit_worker(memory_mb: int) -> None:
    """In a worker: cap its address space, the size of any file it writes, its open files, and
    drop core dumps (a crashing parser would leave one the size of its memory)."""
    if memory_mb > 0:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    write_cap = MAX_WRITE_MB * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (write_cap, write_cap))
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # A write past the cap then fails with EFBIG (an error with a reason) instead of killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def memory_reason(memory_mb: int) -> str:
    return f"needs more than the memory limit ({memory_mb} MB) to read"


def reply_limit(memory_mb: int) -> int:
    """The largest reply a parse worker may send: no worker can build a document bigger than the
    memory it is allowed, so a larger frame is not a document (1 GiB where memory is not capped)."""
    return (memory_mb if memory_mb > 0 else 1024) * 1024 * 1024


def _serve(loader_spec: str, memory_mb: int) -> None:
    """The worker: read {"path", "root"} jobs from stdin, answer each with {"status": "ok",
    "document"} or {"status": "failed", "reason"} (and whether it stops after this reply) on
    stdout, until stdin closes."""
    from ragapp.loaders import LoadError

    load = resolve(loader_spec)
    replies = reply_stream()
    limit_worker(memory_mb)
    limit = reply_limit(memory_mb)
    send(replies, _READY)  # the first job's time limit starts now
    while True:
        try:
            job = receive(sys.stdin.fileno(), limit)
        except EOFError:
            return
        try:
            document = load(Path(job["path"]), Path(job["root"]))
            if not isinstance(document, Document):
                raise TypeError(f"the reader returned {type(document).__name__}, not a document")
            reply = {"status": "ok", "document": document.to_data()}
        except LoadError as exc:
            reply = {"status": "failed", "reason": str(exc)}
        except MemoryError:
            reply = {"status": "failed", "reason": memory_reason(memory_mb)}
        except RecursionError:
            reply = {"status": "failed", "reason": "damaged file (nested too deeply to read)"}
        except Exception as exc:  # any parser bug on any input: a reason, never a dead ingest
            if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
                reason = f"the reader tried to write a file over {MAX_WRITE_MB} MB"
            else:
                reason = f"could not be read ({type(exc).__name__}: {exc})"
            reply = {"status": "failed", "reason": reason}
        # A worker that ran out of memory may be in a poor state: it says so, and stops.
        reply["retire"] = reply.get("reason") == memory_reason(memory_mb)
        try:
            data = json.dumps(reply).encode("ascii")
            if len(data) > limit:  # the app would refuse it as malformed: say what it is instead
                reason = f"its text is too large to pass on ({len(data) >> 20} MB; the limit is {limit >> 20} MB)"
                data = json.dumps({"status": "failed", "reason": reason, "retire": False}).encode("ascii")
            write_frame(replies, data)
        except MemoryError:
            send(replies, {"status": "failed", "reason": memory_reason(memory_mb), "retire": True})
            reply["retire"] = True
        if reply["retire"]:
            return


class _Worker:
    """One worker process and the job it is on."""

    def __init__(self, loader: str, memory_mb: int, env: dict[str, str] | None = None) -> None:
        self.process = start_worker("ragapp.sandbox", loader, str(memory_mb), env=env)
        self.replies = FrameReader(self.process.stdout.fileno(), reply_limit(memory_mb))
        self.job: tuple[Path, Path] | None = None
        self.ready = False  # until its first frame says so; it may be sent a job meanwhile
        self.start_deadline = time.monotonic() + START_LIMIT_S
        self.deadline = 0.0
        self.timeout_s = 0.0
        self.retiring = False

    def start(self, job: tuple[Path, Path], timeout_s: float) -> None:
        self.job, self.timeout_s = job, timeout_s
        # A worker still starting reads the job once ready: the time limit counts from then.
        self.deadline = time.monotonic() + timeout_s if self.ready else self.start_deadline
        try:
            send(self.process.stdin, {"path": str(job[0]), "root": str(job[1])})
        except OSError:  # the worker died meanwhile: its output ends, and the job gets its reason
            pass

    def crash_reason(self, memory_mb: int) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # it closed its output and lives on: no reader does that
            self.process.kill()
            return "the reader stopped answering"
        if code == -signal.SIGKILL:
            return f"the reader was killed (probably out of memory: limit {memory_mb} MB)"
        if code < 0:
            return f"the reader crashed on this file (signal {-code})"
        return f"the reader stopped unexpectedly (exit code {code})"

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                try:
                    self.process.stdin.close()
                except OSError:
                    pass
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class Sandbox:
    """Parses files in up to `workers` processes at once, in the background: `parse` yields
    each file's Parsed as soon as it is ready, while the next files are being parsed."""

    def __init__(self, workers: int, timeout_s: float, memory_mb: int, loader: str = DEFAULT_LOADER,
                 env: dict[str, str] | None = None) -> None:
        self.env = env  # settings the reader needs, passed in the workers' environment
        self.workers = max(1, workers)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.loader = loader

    def parse(self, jobs: Iterable[tuple[Path, Path]], ahead: int | None = None) -> Iterator[Parsed]:
        """Parse every (path, root); results come in the order files finish, not as given.

        At most `ahead` results wait to be taken (default: twice the workers), so a slow
        consumer holds back the parsing rather than filling memory."""
        results: queue.Queue = queue.Queue(maxsize=ahead or 2 * self.workers)
        stop = threading.Event()
        thread = threading.Thread(target=self._run, args=(list(jobs), results, stop), daemon=True, name="ragapp-parse")
        thread.start()
        try:
            while True:
                item = results.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    results.get(timeout=0.1)
                except queue.Empty:
                    pass
            thread.join()

    def _run(self, jobs: list[tuple[Path, Path]], results: queue.Queue, stop: threading.Event) -> None:
        pending = list(reversed(jobs))
        workers: list[_Worker] = []
        try:
            while (pending or any(w.job for w in workers)) and not stop.is_set():
                for worker in workers:
                    if worker.job is None and pending:
                        worker.start(pending.pop(), self.timeout_s)
                while pending and len(workers) < self.workers:
                    worker = _Worker(self.loader, self.memory_mb, self.env)
                    workers.append(worker)
                    worker.start(pending.pop(), self.timeout_s)
                busy = [w for w in workers if w.job]
                wait_s = max(0.0, min(w.deadline for w in busy) - time.monotonic())
                # A selector, not select(): a long-lived process (the app) may hold descriptors past 1024.
                with selectors.DefaultSelector() as selector:
                    for worker in busy:
                        selector.register(worker.process.stdout, selectors.EVENT_READ)
                    readable = {key.fileobj for key, _ in selector.select(min(wait_s, 0.5))}
                for worker in busy:
                    outcome = self._collect(worker) if worker.process.stdout in readable else None
                    if outcome is None and time.monotonic() >= worker.deadline:  # no reply, or half of one
                        worker.stop(kill=True)
                        if worker.ready:
                            outcome = Parsed(*worker.job, reason=self._timed_out(), timed_out=True)
                        else:  # the machine, not the file: the file is tried again next time
                            reason = f"the reader did not start within {START_LIMIT_S:g} s"
                            outcome = Parsed(*worker.job, reason=reason, files_fault=False)
                    if outcome is None:
                        continue
                    if worker.retiring or worker.process.poll() is not None:  # replace it
                        worker.stop()
                        workers.remove(worker)
                    worker.job = None
                    self._put(results, outcome, stop)
        except BaseException as exc:  # surface in the consumer, never die silently
            self._put(results, exc, stop)
        finally:
            for worker in workers:
                worker.stop(kill=stop.is_set())
            self._put(results, None, stop)

    def _collect(self, worker: _Worker) -> Parsed | None:
        """The outcome of the worker's job once its reply is complete; None until then."""
        path, root = worker.job
        try:
            frame = worker.replies.read()
            if frame is None:
                return None
            reply = decode(frame)
            if not worker.ready:
                if reply != _READY:
                    raise BadReply("no ready signal")
                worker.ready = True
                worker.deadline = time.monotonic() + worker.timeout_s
                return None
            parsed = self._parsed(path, root, reply)
            worker.retiring = reply["retire"]
            return parsed
        except EOFError:
            worker.retiring = True
            return Parsed(path, root, reason=worker.crash_reason(self.memory_mb))
        except BadReply as exc:
            # A reader that sends what no reader sends has been taken over, or is broken: it goes.
            worker.stop(kill=True)
            return Parsed(path, root, reason=f"the reader sent a malformed reply ({exc})")

    @staticmethod
    def _parsed(path: Path, root: Path, reply: Any) -> Parsed:
        """The Parsed a worker's decoded reply stands for; BadReply if it is none."""
        if not isinstance(reply, dict) or not isinstance(reply.get("retire"), bool):
            raise BadReply("not a reply")
        if reply.get("status") == "failed" and isinstance(reply.get("reason"), str):
            return Parsed(path, root, reason=short(reply["reason"]))
        if reply.get("status") != "ok":
            raise BadReply("not a reply")
        try:
            document = Document.from_data(reply.get("document"))
        except DataError as exc:
            raise BadReply(f"not a document: {exc}") from None
        # The document's path is its identity in the store: a worker may not speak for another file.
        if document.path not in (str(path), str(Path(path).resolve())):
            raise BadReply("a document of another file")
        return Parsed(path, root, document=document)

    def _timed_out(self) -> str:
        return f"timed out: reading took longer than {self.timeout_s:g} s"

    @staticmethod
    def _put(results: queue.Queue, item: Any, stop: threading.Event) -> None:
        while True:
            try:
                results.put(item, timeout=0.1)
                return
            except queue.Full:
                if stop.is_set():
                    return


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
