import pytest
from conftest import PDF_SAMPLES, SAMPLE
from pdfgen import write_pdf

from ragapp.loaders import LoadError, load


def test_markdown_keeps_title_and_relative_source():
    doc = load(SAMPLE / "handbook" / "leave-policy.md", SAMPLE)
    assert doc.title == "Leave policy"
    assert doc.source == "handbook/leave-policy.md"
    assert doc.kind == "markdown" and doc.pages[0].number is None
    assert "27 days of paid annual leave" in doc.pages[0].text


def test_pdf_text_is_read_page_by_page(tmp_path):
    path = write_pdf(tmp_path / "two.pdf", [["Alpha page one."], ["Beta page two."]], title="Two pages")
    doc = load(path, tmp_path)
    assert doc.kind == "pdf" and doc.title == "Two pages"
    assert [p.number for p in doc.pages] == [1, 2]
    assert "Beta page two." in doc.pages[1].text


def test_sample_pdf_has_three_pages():
    doc = load(SAMPLE / "benefits-guide.pdf", SAMPLE)
    assert len(doc.pages) == 3
    assert "1,500 euros" in doc.pages[2].text


@pytest.mark.skipif(not PDF_SAMPLES.exists(), reason="shared PDF corpus not present")
def test_password_protected_pdf_is_reported_as_such():
    with pytest.raises(LoadError, match="password-protected"):
        load(PDF_SAMPLES / "005-libreoffice-writer-password" / "libreoffice-writer-password.pdf")


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("empty.txt", b"", "empty file"),
        ("blob.txt", b"\x00\x01\x02binary\x00", "binary data"),
        ("latin.txt", "café crème".encode("latin-1"), "not UTF-8"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "damaged PDF"),
        ("slides.pptx", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load(path, tmp_path)


def test_pdf_without_text_is_reported_as_probably_scanned(tmp_path):
    path = write_pdf(tmp_path / "blank.pdf", [[]])
    with pytest.raises(LoadError, match="no extractable text"):
        load(path, tmp_path)
