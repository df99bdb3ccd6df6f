import io
import random
import re
import zipfile

import docx
import openpyxl
import pptx
import pypdf
import pytest

from ragapp.uploads import BINARY, UploadRejected, detect_type, display_name, save_upload

HEX_NAME = re.compile(r"[0-9a-f]{32}\.(pdf|docx|html|md|txt)")


def pdf_bytes() -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(200, 200)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_paragraph("Hello from Word.")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def pptx_bytes() -> bytes:
    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = "Hello from PowerPoint."
    buf = io.BytesIO()
    deck.save(buf)
    return buf.getvalue()


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["Hello", "from Excel."])
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def files_under(root):
    return {p for p in root.rglob("*") if p.is_file()}


HOSTILE_NAMES = [
    ("../../x.pdf", "x.pdf"),
    ("/etc/passwd", "passwd"),
    ("a.pdf:evil", "a.pdf:evil"),
    ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
    ("..\\..\\win.pdf", "win.pdf"),
    ("re\x00port\u202efdp.exe", "reportfdp.exe"),
]


def test_hostile_names_are_stored_inside_upload_dir(tmp_path):
    # Nested, so that an escape by "../.." would land in tmp_path and be seen below.
    upload_dir = tmp_path / "data" / "uploads"
    saved = []
    for i, (original, expected) in enumerate(HOSTILE_NAMES):
        data = pdf_bytes() + f"\n% upload {i}\n".encode()  # distinct bytes: one file each
        upload = save_upload(data, original, upload_dir, max_mb=10)
        assert upload.path.resolve().is_relative_to(upload_dir.resolve())
        assert upload.path.parent == upload_dir
        assert HEX_NAME.fullmatch(upload.path.name) and upload.path.suffix == ".pdf"
        assert upload.path.read_bytes() == data
        assert upload.name == expected and upload.kind == "pdf"
        saved.append(upload.path)
    assert files_under(upload_dir) == set(saved)
    assert files_under(tmp_path) == set(saved)  # nothing elsewhere, no temporary file left


def test_display_name():
    assert display_name("C:\\Users\\me\\report.pdf") == "report.pdf"
    assert display_name("  my \t  notes\n.md ") == "my notes.md"
    for nothing in ("../", "", "\x00", "..", " \u202e "):
        assert display_name(nothing) == "upload"
    long = display_name("b" * 300)
    assert long == "b" * 120
    assert len(display_name("a" * 300 + ".pdf")) == 120


def test_pdf_named_txt_is_stored_as_pdf(tmp_path):
    upload = save_upload(pdf_bytes(), "notes.txt", tmp_path, max_mb=10)
    assert upload.path.suffix == ".pdf" and upload.kind == "pdf" and upload.name == "notes.txt"


def test_docx_is_recognised(tmp_path):
    data = docx_bytes()
    upload = save_upload(data, "letter.bin", tmp_path, max_mb=10)
    assert upload.path.suffix == ".docx" and upload.kind == "docx"
    assert upload.path.read_bytes() == data


@pytest.mark.parametrize("make, suffix", [(pptx_bytes, ".pptx"), (xlsx_bytes, ".xlsx")])
def test_powerpoint_and_excel_are_recognised_by_content_whatever_the_name(tmp_path, make, suffix):
    data = make()
    for name in ("deck.bin", "report.docx", f"file{suffix}"):
        upload = save_upload(data, name, tmp_path, max_mb=10)
        assert upload.path.suffix == suffix and upload.kind == suffix[1:] and upload.name == name


def test_text_named_csv_is_stored_as_csv(tmp_path):
    data = "Name;City\nJos\u00e9;Z\u00fcrich\n".encode("cp1252")
    upload = save_upload(data, "people.CSV", tmp_path, max_mb=10)
    assert upload.path.suffix == ".csv" and upload.kind == "csv"
    assert detect_type(data, "people.txt") == ".txt"  # the same text under another name is text
    with pytest.raises(UploadRejected, match="^" + re.escape(BINARY) + "$"):
        detect_type(b"\x7fELF\x00\x01", "data.csv")


@pytest.mark.parametrize(
    "data, name",
    [
        (b"\x7fELF" + random.Random(1).randbytes(4096), "report.pdf"),
        (b"MZ\x90\x00" + random.Random(2).randbytes(4096), "setup.txt"),
        (random.Random(5).randbytes(2048), "random.txt"),
        ("text\x00with a NUL".encode(), "a.txt"),
        ("no BOM".encode("utf-16-le"), "a.txt"),
        (b"beep\x07\x1b[0m \x81", "a.txt"),  # not UTF-8, and cp1252 would need control characters
    ],
)
def test_binary_content_is_rejected_whatever_the_name(tmp_path, data, name):
    with pytest.raises(UploadRejected) as rejected:
        save_upload(data, name, tmp_path / "uploads", max_mb=10)
    assert str(rejected.value) == BINARY
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize(
    "data, name, suffix",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + random.Random(3).randbytes(512), "a.txt", ".png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + random.Random(4).randbytes(512), "photo.md", ".jpg"),
        (b"II*\x00" + random.Random(6).randbytes(512), "scan", ".tif"),
    ],
)
def test_images_are_known_by_their_content_whatever_the_name(data, name, suffix):
    # Read by OCR at ingest (a damaged image then fails there, with its reason).
    assert detect_type(data, name) == suffix


def test_html_found_from_content(tmp_path):
    data = b"\n  <!DOCTYPE html>\n<html><body><p>Hi</p></body></html>\n"
    upload = save_upload(data, "page.txt", tmp_path, max_mb=10)
    assert upload.path.suffix == ".html" and upload.kind == "html"
    assert detect_type(b"<HTML><p>x</p></HTML>", "a") == ".html"
    assert detect_type(b"<p>fragment</p>", "frag.HTM") == ".html"


def test_text_encodings_and_names():
    assert detect_type("\ufeffCaf\u00e9 notes\n".encode("utf-16"), "notes.txt") == ".txt"
    assert detect_type("Caf\u00e9".encode("utf-32"), "a") == ".txt"
    assert detect_type("\ufeffCaf\u00e9".encode("utf-8"), "a") == ".txt"
    assert detect_type("Caf\u00e9 \u201cquoted\u201d".encode("cp1252"), "a") == ".txt"
    assert detect_type(b"# Title\n\ntext", "README.md") == ".md"
    assert detect_type(b"# Title\n\ntext", "notes.Markdown") == ".md"
    assert detect_type(b"# Title\n\ntext", "notes") == ".txt"
    assert detect_type("<!doctype html><p>x</p>".encode("utf-16"), "a.md") == ".html"


def test_utf16_text_is_stored_as_txt(tmp_path):
    data = "Caf\u00e9 cr\u00e8me\n".encode("utf-16")
    assert data.startswith((b"\xff\xfe", b"\xfe\xff"))
    upload = save_upload(data, "menu.txt", tmp_path, max_mb=10)
    assert upload.path.suffix == ".txt" and upload.kind == "text"
    assert upload.path.read_bytes() == data  # the original bytes, not a re-encoding


def test_over_the_size_limit_is_rejected_and_nothing_written(tmp_path):
    upload_dir = tmp_path / "uploads"
    data = b"x" * 1_250_001
    with pytest.raises(UploadRejected) as rejected:
        save_upload(data, "big.txt", upload_dir, max_mb=1)
    assert str(rejected.value) == "over the upload size limit (1.3 MB; the limit is 1 MB)"
    assert not upload_dir.exists() and files_under(tmp_path) == set()
    # Exactly at the limit is allowed.
    assert save_upload(b"y" * 1_000_000, "ok.txt", upload_dir, max_mb=1).path.is_file()


def test_size_is_checked_before_the_type(tmp_path):
    with pytest.raises(UploadRejected, match="over the upload size limit"):
        save_upload(b"\x7fELF" + b"\x00" * 2_000_000, "a.pdf", tmp_path, max_mb=0.5)


def test_same_upload_twice_is_one_file(tmp_path):
    data = pdf_bytes()
    first = save_upload(data, "a.pdf", tmp_path, max_mb=10)
    mtime = first.path.stat().st_mtime_ns
    second = save_upload(data, "copy of a.pdf", tmp_path, max_mb=10)
    assert first.path == second.path and second.name == "copy of a.pdf"
    assert files_under(tmp_path) == {first.path}
    assert first.path.stat().st_mtime_ns == mtime  # not rewritten


def test_a_damaged_stored_copy_is_replaced(tmp_path):
    data = pdf_bytes()
    path = save_upload(data, "a.pdf", tmp_path, max_mb=10).path
    path.write_bytes(data[:10])
    assert save_upload(data, "a.pdf", tmp_path, max_mb=10).path.read_bytes() == data


@pytest.mark.parametrize("data", [b"", b"   \n\t ", "  \n".encode("utf-16"), b"\xef\xbb\xbf"])
def test_empty_file_is_rejected(tmp_path, data):
    with pytest.raises(UploadRejected, match="^empty file$"):
        save_upload(data, "a.txt", tmp_path, max_mb=10)
    assert files_under(tmp_path) == set()


def test_zip_that_is_not_word_is_rejected(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("photos/cat.txt", "meow")
    with pytest.raises(UploadRejected, match="^a ZIP archive, not a Word, PowerPoint or Excel file$"):
        save_upload(buf.getvalue(), "report.docx", tmp_path, max_mb=10)
    with pytest.raises(UploadRejected, match="^damaged ZIP/Office file$"):
        save_upload(docx_bytes()[:200], "report.docx", tmp_path, max_mb=10)
    assert files_under(tmp_path) == set()


def test_ole2_files_are_rejected_with_a_reason():
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    for name in ("secret.DOCX", "deck.pptx", "figures.xlsx"):
        with pytest.raises(UploadRejected, match="^password-protected document$"):
            detect_type(ole, name)
    with pytest.raises(UploadRejected, match=r"old Office \(\.doc/\.xls/\.ppt\) file"):
        detect_type(ole, "old.doc")
