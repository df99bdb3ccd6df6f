"""What code run by a parser exploit could do inside a worker, on request (by file name): a
loader for the parse workers and draw functions for the page renderer.

`*.env.*` returns the worker's whole environment as the document's text; `*.notdoc.*` returns
a dict instead of a document; `*.bigwrite.*` writes 200 MB to a file beside it; `*.fds.*` opens
a thousand files; `*.pickle.*`, `*.garbage.*`, `*.wrongtypes.*`, `*.othername.*` and
`*.stall.*` write their own reply straight into the worker's reply pipe (a pickle that would
create `PATH.pwned`, bytes that are no frame, a document whose pages are not pages, a document
of another file, half a reply and then nothing) and die. Everything else loads normally."""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import signal
import stat
import struct
import time
from pathlib import Path

from ragapp.documents import Document, Page
from ragapp.loaders import load as real_load
from ragapp.pages import draw_page


class _Mkdir:
    """Unpickling this creates a folder: the proof that unpickling ran the sender's code."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def _reply_pipe() -> int:
    """The worker's reply pipe, found as an exploit would find it: its one other writable pipe."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            mode, flags = os.fstat(fd).st_mode, fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        if fd > 2 and stat.S_ISFIFO(mode) and flags & os.O_ACCMODE == os.O_WRONLY:
            found.append(fd)
    assert len(found) == 1, found
    return found[0]


def _framed(data: bytes) -> bytes:
    return struct.pack("!Q", len(data)) + data


def _document_data(path: Path, **changes) -> dict:
    data = {"path": str(path), "source": path.name, "title": "Forged", "kind": "text",
            "content_hash": "0" * 64, "pages": [{"number": None, "text": "forged text", "sections": []}]}
    data.update(changes)
    return data


def load(path: Path, root: Path):
    path = Path(path).resolve()
    name = path.name
    if ".env." in name:
        text = "\n".join(f"{key}={value}" for key, value in sorted(os.environ.items()))
        return Document(str(path), name, "Environment", "text", "0" * 64, (Page(None, text),))
    if ".notdoc." in name:
        return {"path": str(path), "pages": "not pages"}
    if ".fds." in name:
        held = [open(os.devnull) for _ in range(1000)]
        return held
    if ".bigwrite." in name:
        with open(path.with_suffix(".out"), "wb") as out:
            for _ in range(200):
                out.write(b"\0" * (1024 * 1024))
        return real_load(path, root)
    forged = {
        ".pickle.": lambda: _framed(pickle.dumps(("ok", _Mkdir(str(path) + ".pwned"), False))),
        ".garbage.": lambda: b"\xff" * 64,
        ".wrongtypes.": lambda: _framed(json.dumps({"status": "ok", "retire": False,
                                                    "document": _document_data(path, pages="forged text")}).encode()),
        ".othername.": lambda: _framed(json.dumps({"status": "ok", "retire": False,
                                                   "document": _document_data(path.with_name("other.md"))}).encode()),
        ".stall.": lambda: struct.pack("!Q", 100) + b"{" * 10,
    }
    for marker, reply in forged.items():
        if marker in name:
            os.write(_reply_pipe(), reply())
            if marker == ".stall.":
                time.sleep(3600)
            os._exit(0)
    return real_load(path, root)


def draw_or_crash(path: str, page: int, passage_text: str, scale: float):
    """Page 2 crashes the renderer (as a PDFium bug would); other pages are drawn as usual."""
    if page == 2:
        os.kill(os.getpid(), signal.SIGSEGV)
    return draw_page(path, page, passage_text, scale)


def draw_forged(path: str, page: int, passage_text: str, scale: float):
    """Page 1: an image that is no PNG; page 2: a PNG header claiming 100,000 pixels square."""
    if page == 1:
        return {"highlighted": False, "boxes": []}, b"GIF89a" + b"\0" * 100
    ihdr = b"IHDR" + struct.pack("!II", 100_000, 100_000) + b"\x08\x02\0\0\0"
    return {"highlighted": False, "boxes": []}, b"\x89PNG\r\n\x1a\n" + struct.pack("!I", 13) + ihdr + b"\0" * 4


def draw_forever(path: str, page: int, passage_text: str, scale: float):
    """A page whose drawing never ends, as a PDF built to loop PDFium's parser would."""
    while True:
        time.sleep(1)
