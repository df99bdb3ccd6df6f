"""Saving a file uploaded in the browser app: under a name made from its content, never the one sent.

The browser's file name is only metadata (`display_name`); the bytes are stored as
`upload_dir / <sha256[:32]><suffix>`, where the suffix comes from what the bytes are (`detect_type`), not
from the name. The original bytes are kept unchanged, so a citation can open them and they can be
downloaded again under the name the person gave them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

KINDS = {
    ".pdf": "pdf", ".docx": "docx", ".pptx": "pptx", ".xlsx": "xlsx", ".csv": "csv",
    ".html": "html", ".md": "markdown", ".txt": "text", ".png": "image", ".jpg": "image", ".tif": "image",
}
MAX_NAME = 120
BINARY = "not a PDF, Word, PowerPoint, Excel, HTML, text or image file (the content is binary data)"
# Images read by OCR, by their first bytes: PNG, JPEG, and TIFF in either byte order.
IMAGE_MAGIC = {b"\x89PNG\r\n\x1a\n": ".png", b"\xff\xd8\xff": ".jpg", b"II*\x00": ".tif", b"MM\x00*": ".tif"}
# The part each kind of Office file has, by which a ZIP archive is known as one (the name may say otherwise).
OFFICE_PARTS = {"word/document.xml": ".docx", "ppt/presentation.xml": ".pptx", "xl/workbook.xml": ".xlsx"}
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# Longest BOM first: the UTF-32 LE BOM begins with the UTF-16 LE one.
BOMS = [
    (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"), (b"\xef\xbb\xbf", "utf-8-sig"),
]


class UploadRejected(Exception):
    """An upload that is not stored; the message is the reason, for a person (e.g. 'over the upload size limit (12.3 MB; the limit is 10 MB)')."""


@dataclass(frozen=True)
class SavedUpload:
    path: Path  # where the bytes were written: upload_dir / f"{sha256(data)[:32]}{suffix}"
    name: str  # the display name (see display_name)
    kind: str  # a value of KINDS: "pdf", "docx", "pptx", "xlsx", "csv", "html", "markdown", "text" or "image"


def display_name(original: str) -> str:
    """What the person called the file, safe to keep as metadata and to show (escaped by the app)."""
    # Browsers on Windows and some clients send a whole path; either separator may appear.
    name = original.replace("\\", "/").rsplit("/", 1)[-1]
    # Control and format characters (NUL, newlines, a right-to-left override) can hide or fake a name.
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        # Keep the extension when there is a sensible one, so "report….pdf" still reads as a PDF.
        if dot and stem and len(ext) < 16:
            name = stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_NAME].rstrip()
    return "upload" if name in ("", ".", "..") else name


def _decode(data: bytes) -> str | None:
    """The text the bytes hold, or None when they are not text."""
    for bom, codec in BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                return None
            # NUL is expected inside UTF-16/32 bytes, but not as a decoded character.
            return None if "\x00" in text else text
    if b"\x00" in data:  # no text encoding without a BOM puts NUL bytes in a document
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined
        return None
    # cp1252 decodes almost any byte string; control characters are what give binary data away.
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f" for ch in text):
        return None
    return text


def detect_type(data: bytes, name: str) -> str:
    """The file's type from its bytes, as the suffix it is stored under (a key of KINDS: ".pdf", ".docx", ...).

    Text is told apart by the name only: ".md" and ".csv" are read as Markdown and CSV, other text as text."""
    lower = name.lower()
    if not data.strip():
        raise UploadRejected("empty file")
    # PDF readers accept a header after some junk, so look a little beyond byte 0 as they do.
    if b"%PDF-" in data[:1024]:
        return ".pdf"
    for magic, suffix in IMAGE_MAGIC.items():
        if data.startswith(magic):
            return suffix
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()  # the directory only: nothing is decompressed
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            raise UploadRejected("damaged ZIP/Office file") from None
        for part, suffix in OFFICE_PARTS.items():
            if part in names:
                return suffix
        raise UploadRejected("a ZIP archive, not a Word, PowerPoint or Excel file")
    if data.startswith(OLE2):
        # Office wraps an encrypted .docx, .pptx or .xlsx in an OLE2 container; otherwise OLE2 is a
        # pre-2007 Office file.
        if lower.endswith(tuple(OFFICE_PARTS.values())):
            raise UploadRejected("password-protected document")
        raise UploadRejected("an old Office (.doc/.xls/.ppt) file: save it as .docx, .xlsx, .pptx or PDF")
    text = _decode(data)
    if text is None:
        raise UploadRejected(BINARY)
    if not text.strip():  # e.g. only a BOM, or UTF-16 spaces
        raise UploadRejected("empty file")
    start = text[:2048].strip().lower()
    if start.startswith(("<!doctype html", "<html")) or lower.endswith((".html", ".htm")):
        return ".html"
    if lower.endswith((".md", ".markdown")):
        return ".md"
    if lower.endswith(".csv"):
        return ".csv"
    return ".txt"


TOO_LARGE = "over the upload size limit"


def size_refusal(size: int, max_mb: float) -> str | None:
    """Why a file of this many bytes is refused, or None when its size is allowed."""
    if size > max_mb * 1_000_000:
        return f"{TOO_LARGE} ({size / 1_000_000:.1f} MB; the limit is {max_mb:g} MB)"
    return None


def save_upload(data: bytes, original_name: str, upload_dir: Path, max_mb: float) -> SavedUpload:
    """Check an upload and store it under its content hash; raises UploadRejected with the reason."""
    # The size first: nothing else is worth doing with a file that is too big.
    refusal = size_refusal(len(data), max_mb)
    if refusal:
        raise UploadRejected(refusal)
    suffix = detect_type(data, original_name)
    upload_dir = Path(upload_dir)
    upload_dir.mkdir(parents=True, exist_ok=True)
    # The name is built only from hex digits and a fixed suffix, so it cannot leave upload_dir.
    target = upload_dir / f"{hashlib.sha256(data).hexdigest()[:32]}{suffix}"
    same = target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data
    if not same:
        # A temporary file in the same folder, then an atomic rename: a reader (or a crash) never
        # sees a half-written upload, and two equal uploads at once both end with the full file.
        fd, tmp = tempfile.mkstemp(dir=upload_dir, prefix=".upload-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return SavedUpload(path=target, name=display_name(original_name), kind=KINDS[suffix])


# An upload is kept in its final place first, then marked pending until an ingest has given it an
# outcome: an app killed in between (or an ingest undone by the store's crash recovery) leaves the
# mark, and the next ingest into that collection finishes the upload under the name it was given.
PENDING_SUFFIX = ".pending"


def _mark_of(path: Path) -> Path:
    # Hidden, so that a folder ingest of the uploads never reads it as a document.
    return path.with_name(f".{path.name}{PENDING_SUFFIX}")


def mark_pending(saved: SavedUpload) -> None:
    mark = _mark_of(saved.path)
    fd, tmp = tempfile.mkstemp(dir=mark.parent, prefix=".mark-", suffix=".part")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"name": saved.name}, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, mark)


def pending_uploads(folder: Path) -> dict[str, str]:
    """Uploads kept in this folder whose ingest has not finished: absolute path -> the name given."""
    found: dict[str, str] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return found
    for mark in folder.glob(f".*{PENDING_SUFFIX}"):
        path = mark.with_name(mark.name[1 : -len(PENDING_SUFFIX)])
        try:
            name = display_name(str(json.loads(mark.read_text(encoding="utf-8"))["name"]))
        except (OSError, ValueError, KeyError, TypeError):
            name = path.name  # a damaged mark: the upload still deserves its ingest
        if path.is_file():
            found[str(path.resolve())] = name
        else:
            mark.unlink(missing_ok=True)
    return found


def clear_pending(path: Path) -> None:
    _mark_of(Path(path)).unlink(missing_ok=True)
