"""Write small, valid text PDFs (Helvetica, WinAnsi) for tests and the sample documents.

Usage: python tests/pdfgen.py SOURCE.txt OUT.pdf  (first line: title; pages separated by a line holding only \\f)
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path


def _escape(line: str) -> bytes:
    raw = line.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def write_pdf(path: Path, pages: list[list[str]], title: str = "", width: int = 92) -> Path:
    """A PDF with one page per list of lines; long lines are wrapped."""
    objects: list[bytes] = []
    page_ids = []
    n_pages = len(pages)
    # Object numbers: 1 catalog, 2 pages, 3 font, 4 info, then page/content pairs.
    for index, lines in enumerate(pages):
        wrapped: list[str] = []
        for line in lines:
            wrapped.extend(textwrap.wrap(line, width) or [""])
        body = b"BT /F1 11 Tf 14 TL 56 790 Td\n"
        for line in wrapped:
            body += b"(" + _escape(line) + b") Tj T*\n"
        body += b"ET"
        page_id = 5 + 2 * index
        page_ids.append(page_id)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (page_id + 1)
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream")
    kids = b" ".join(b"%d 0 R" % pid for pid in page_ids)
    head = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % n_pages,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title) + b") /Producer (ragapp pdfgen) >>",
    ]
    all_objects = head + objects
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(all_objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + obj + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(all_objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(all_objects) + 1, xref_at)
    path = Path(path)
    path.write_bytes(bytes(out))
    return path


def main(argv: list[str]) -> None:
    source, target = Path(argv[0]), Path(argv[1])
    text = source.read_text(encoding="utf-8")
    title, _, rest = text.partition("\n")
    pages = [page.strip("\n").splitlines() for page in re.split(r"\n(?:\\f|\f)\n", rest)]
    write_pdf(target, pages, title=title.strip())


if __name__ == "__main__":
    main(sys.argv[1:])
