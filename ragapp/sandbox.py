"""Parse files in worker processes, each with a time limit and a memory cap.

A parser fed a hostile or broken file can loop forever or eat all memory (several of pypdf's
advisories are exactly that), and nothing inside the process can stop it. So every file is parsed
in a worker process: the worker caps its own address space, and the ingest kills a worker that
runs past the time limit and starts a fresh one. A file can fail; the ingest goes on.

Workers are plain `python -m ragapp.sandbox` processes talking pickles over their stdin and
stdout, not multiprocessing: under Streamlit, multiprocessing's spawn would re-run the app's
script in every worker.
"""

from __future__ import annotations

import importlib
import os
import pickle
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

DEFAULT_LOADER = "ragapp.loaders:load"
_HEADER = struct.Struct("!Q")


@dataclass(frozen=True)
class Parsed:
    """What became of one file: its Document, or the reason it has none."""

    path: Path
    root: Path
    document: Any = None  # ragapp.documents.Document
    reason: str = ""
    timed_out: bool = False


def _write(stream, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read(stream) -> Any:
    (size,) = _HEADER.unpack(_read_exactly(stream, _HEADER.size))
    return pickle.loads(_read_exactly(stream, size))


def _resolve(spec: str):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def memory_reason(memory_mb: int) -> str:
    return f"needs more than the memory limit ({memory_mb} MB) to read"


def _serve(loader_spec: str, memory_mb: int) -> None:
    """The worker: read (path, root) jobs from stdin, answer each with ("ok", Document) or
    ("failed", reason) on stdout, until stdin closes."""
    from ragapp.loaders import LoadError

    load = _resolve(loader_spec)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print must not corrupt the replies
    jobs = sys.stdin.buffer
    if memory_mb > 0:
        cap = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    while True:
        try:
            path, root = _read(jobs)
        except EOFError:
            return
        try:
            reply = ("ok", load(Path(path), Path(root)))
        except LoadError as exc:
            reply = ("failed", str(exc))
        except MemoryError:
            reply = ("failed", memory_reason(memory_mb))
        except RecursionError:
            reply = ("failed", "damaged file (nested too deeply to read)")
        except Exception as exc:  # any parser bug on any input: a reason, never a dead ingest
            reply = ("failed", f"could not be read ({type(exc).__name__}: {exc})")
        # A worker that ran out of memory may be in a poor state: it says so, and stops.
        retire = reply[1] == memory_reason(memory_mb)
        try:
            _write(replies, (*reply, retire))
        except MemoryError:
            _write(replies, ("failed", memory_reason(memory_mb), True))
            retire = True
        if retire:
            return


class _Worker:
    """One worker process and the job it is on."""

    def __init__(self, loader: str, memory_mb: int) -> None:
        env = dict(os.environ)
        # The worker imports what this process can import (the loader may live in a test folder).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and os.path.isdir(p))
        # A worker reads one file on one core: a library that starts a thread per core inside it
        # (OpenMP, BLAS) would fight the embedding in the ingesting process for the same cores.
        env.update(OMP_NUM_THREADS="1", OMP_THREAD_LIMIT="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragapp.sandbox", loader, str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # parsers warn about every oddity of a real-world file
            env=env,
        )
        self.job: tuple[Path, Path] | None = None
        self.deadline = 0.0
        self.retiring = False

    def start(self, job: tuple[Path, Path], timeout_s: float) -> None:
        self.job = job
        self.deadline = time.monotonic() + timeout_s
        try:
            _write(self.process.stdin, (str(job[0]), str(job[1])))
        except OSError:  # the worker died meanwhile: its output ends, and the job gets its reason
            pass

    def reply(self) -> tuple[str, Any, bool]:
        """(status, Document or reason, whether the worker stops after this reply)."""
        return _read(self.process.stdout)

    def crash_reason(self, memory_mb: int) -> str:
        code = self.process.wait()
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

    def __init__(self, workers: int, timeout_s: float, memory_mb: int, loader: str = DEFAULT_LOADER) -> None:
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
                    worker = _Worker(self.loader, self.memory_mb)
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
                    if worker.process.stdout in readable:
                        outcome = self._collect(worker)
                    elif time.monotonic() >= worker.deadline:
                        worker.stop(kill=True)
                        outcome = Parsed(*worker.job, reason=f"timed out: reading took longer than {self.timeout_s:g} s", timed_out=True)
                    else:
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

    def _collect(self, worker: _Worker) -> Parsed:
        path, root = worker.job
        try:
            status, value, worker.retiring = worker.reply()
        except (EOFError, pickle.UnpicklingError, struct.error):
            worker.retiring = True
            return Parsed(path, root, reason=worker.crash_reason(self.memory_mb))
        if status == "ok":
            return Parsed(path, root, document=value)
        return Parsed(path, root, reason=value)

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
