import codecs
import random
import re
import struct
import zipfile

import pytest
from conftest import PDF_SAMPLES, SAMPLE
from pdfgen import write_pdf

from ragapp.loaders import NO_VISIBLE_TEXT, LoadError, load
from ragapp.splitter import split

TEXT = "Caf\u00e9 cr\u00e8me, \u201cquoted\u201d, 5 \u20ac.\nSecond line.\n"


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
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "damaged PDF"),
        ("slides.key", b"PK\x03\x04", "unsupported file type"),
    ],
)
def test_bad_files_fail_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load(path, tmp_path)


def test_a_blank_pdf_is_reported_as_having_no_words_even_to_ocr(tmp_path):
    from ragapp import ocr

    path = write_pdf(tmp_path / "blank.pdf", [[]])
    with pytest.raises(LoadError, match=re.escape(ocr.unavailable_reason() or ocr.NO_WORDS)):
        load(path, tmp_path)


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalog), with an exact xref table."""
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_sound_pdf_past_pypdfs_limits_is_stored_with_its_text(tmp_path, fake_pipeline):
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    from ragapp.pages import render_pdf_page

    # One line of text followed by 100,001 kerning adjustments of 0 (no shift): a valid page that
    # draws as any other, in an array longer than pypdf will read (100,000 elements).
    content = b"BT /F1 12 Tf 56 780 Td [(Quarterly revenue was 61.9 billion dollars.)" + b" 0" * 100_001 + b"] TJ ET"
    folder = tmp_path / "filings"
    folder.mkdir()
    path = folder / "10-q.pdf"
    path.write_bytes(_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]))
    with pytest.raises(LimitReachedError):  # what refused such files before
        PdfReader(path).pages[0].extract_text()

    report = fake_pipeline.ingest([folder])
    assert [(o.source, o.status, o.reason) for o in report.outcomes] == [("10-q.pdf", "added", "")]
    record = next(r for r in fake_pipeline.documents() if r.source == "10-q.pdf")
    passages = fake_pipeline.store().passages_of(record.doc_id)
    assert [(p.page, p.text) for p in passages] == [(1, "Quarterly revenue was 61.9 billion dollars.")]
    assert render_pdf_page(path, 1, passages[0].text).highlighted  # its citation opens on the page, highlighted


@pytest.mark.skipif(not PDF_SAMPLES.exists(), reason="shared PDF corpus not present")
def test_pdf_words_hyphenated_across_lines_are_whole_again():
    doc = load(PDF_SAMPLES / "009-pdflatex-geotopo" / "GeoTopo-komprimiert.pdf")
    text = doc.pages[1].text
    # "Übungsauf-" and "gaben" on two lines are one word; "Schwarz-" and "Weiß" keep their hyphen.
    assert "Übungsaufgaben" in text and "Schwarz-Weiß" in text
    assert not any("\r" in page.text or "\ufffe" in page.text for page in doc.pages)


@pytest.mark.parametrize(
    "name, data",
    [
        ("utf8-bom.txt", codecs.BOM_UTF8 + TEXT.encode("utf-8")),
        ("utf16-le-bom.txt", codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le")),
        ("utf16-be-bom.txt", codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")),
        ("utf16-le.txt", TEXT.encode("utf-16-le")),
        ("utf16-be.md", TEXT.encode("utf-16-be")),
        ("utf32-bom.txt", TEXT.encode("utf-32")),
        ("cp1252.txt", TEXT.encode("cp1252")),
    ],
)
def test_text_encodings_are_detected(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    assert load(path, tmp_path).pages[0].text == TEXT


def test_latin1_text_loads(tmp_path):
    (tmp_path / "latin.txt").write_bytes("caf\u00e9 cr\u00e8me".encode("latin-1"))
    # 0x81 is undefined in cp1252, so only latin-1 decodes this one.
    (tmp_path / "latin-c1.txt").write_bytes("se\u00f1or\x81".encode("latin-1"))
    assert load(tmp_path / "latin.txt", tmp_path).pages[0].text == "caf\u00e9 cr\u00e8me"
    assert load(tmp_path / "latin-c1.txt", tmp_path).pages[0].text == "se\u00f1or\x81"


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("random.txt", random.Random(0).randbytes(4096), "binary data, not text"),
        ("random-no-nul.txt", bytes(b for b in random.Random(1).randbytes(4096) if b), "binary data, not text"),
        ("controls.txt", b"a\x01b\x02c\x03d\x04e\x05" * 20, "binary data, not text"),
        # Too short for the encoding detector to be sure of (longer Japanese or Russian is read).
        ("short-koi8-r.txt", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440".encode("koi8_r"), r"cannot decode the text \(unknown encoding"),
        ("bad-bom.txt", codecs.BOM_UTF8 + b"caf\xe9", r"cannot decode the text \(invalid UTF-8"),
        ("blank-utf16.txt", " \n".encode("utf-16"), "empty file"),
    ],
)
def test_what_is_not_text_fails_with_a_reason(tmp_path, name, data, reason):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(LoadError, match=reason):
        load(path, tmp_path)


PAGE = """<!DOCTYPE html>
<html><head>
<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">
<title>Staff  guide</title>
<style>body { color: red }</style>
<script>var leak = "<p>script text</p>";</script>
</head>
<body>
<!-- a comment that is not text -->
<h1>Guide</h1>
<p>Fish &amp; chips, <b>bold</b>ly \x93quoted\x94 for 5 \x80.</p>
<h2>Install</h2>
<h3>Linux</h3>
<p>Run the <code>installer</code><br>then reboot.</p>
<div hidden><p>hidden text</p></div><p style="display: none">more hidden text</p>
<noscript>noscript text</noscript>
<ul><li>first item</li><li>second item</li></ul>
<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Basic</td><td>10</td></tr></table>
<h2>Use</h2>
<p>Open the app.</p>
<svg><title>svg title</title><text>svg text</text></svg>
</body></html>
"""


def test_html_keeps_visible_text_in_blocks(tmp_path):
    (tmp_path / "guide.html").write_bytes(PAGE.encode("latin-1"))
    doc = load(tmp_path / "guide.html", tmp_path)
    text = doc.pages[0].text
    assert doc.kind == "html" and doc.title == "Staff guide" and doc.pages[0].number is None
    assert "Fish & chips, boldly \u201cquoted\u201d for 5 \u20ac." in text
    assert "Run the installer\nthen reboot." in text
    assert "first item\n\nsecond item" in text and "Plan | Price\n\nBasic | 10" in text
    for unseen in ("color", "script text", "leak", "comment", "hidden text", "noscript", "svg"):
        assert unseen not in text
    assert "\n\n\n" not in text and "\ufffd" not in text


def test_html_headings_become_sections(tmp_path):
    (tmp_path / "guide.html").write_bytes(PAGE.encode("latin-1"))
    page = load(tmp_path / "guide.html", tmp_path).pages[0]
    paths = [path for _, path in page.sections]
    # Install has nothing but a heading under it, so it shares the section of Linux.
    assert paths == ["Guide", "Guide \u203a Install \u203a Linux", "Guide \u203a Use"]
    starts = {path: start for start, path in page.sections}
    assert page.text[starts["Guide \u203a Install \u203a Linux"] :].startswith("Install\n\nLinux\n\nRun")
    assert page.text[starts["Guide \u203a Use"] :].startswith("Use\n\nOpen the app.")


def test_html_title_falls_back_to_the_first_h1_then_the_file_name(tmp_path):
    (tmp_path / "a.html").write_text("<p>Intro</p><h2>Sub</h2><h1>Main heading</h1><p>Text</p>", "utf-8")
    (tmp_path / "release-notes.htm").write_text("<p>caf\u00e9</p>", "utf-8")
    first = load(tmp_path / "a.html", tmp_path)
    assert first.title == "Main heading" and first.pages[0].sections[0] == (0, "")
    assert load(tmp_path / "release-notes.htm", tmp_path).title == "Release notes"


def test_html_without_visible_text_says_so(tmp_path):
    (tmp_path / "blank.html").write_text("<html><head><title>T</title></head><body><img src=x></body></html>")
    with pytest.raises(LoadError, match=re.escape(NO_VISIBLE_TEXT)):
        load(tmp_path / "blank.html", tmp_path)


def _write_docx(path, title="Staff handbook"):
    docx = pytest.importorskip("docx")
    document = docx.Document()
    document.core_properties.title = title
    document.add_paragraph("Read this first.")
    document.add_heading("Leave policy", 1)
    document.add_paragraph("Everyone gets 27 days.")
    document.add_heading("Parental leave", 2)
    paragraph = document.add_paragraph("Parents get 16 weeks.\tPaid in full.")
    paragraph.add_run().add_break()
    paragraph.add_run("Ask HR.")
    table = document.add_table(rows=2, cols=2)
    for (row, col), value in {(0, 0): "Benefit", (0, 1): "Amount", (1, 0): "Bike", (1, 1): "1,500 euros"}.items():
        table.cell(row, col).text = value
    document.add_heading("Expenses", 1)
    document.add_paragraph("Claim within 30 days.")
    document.save(path)
    return path


def test_docx_paragraphs_tables_headings_and_title(tmp_path):
    doc = load(_write_docx(tmp_path / "handbook.docx"), tmp_path)
    page = doc.pages[0]
    assert doc.kind == "docx" and doc.title == "Staff handbook" and page.number is None
    assert page.text.startswith("Read this first.\n\nLeave policy\n\nEveryone gets 27 days.\n\n")
    assert "Parents get 16 weeks.\tPaid in full.\nAsk HR." in page.text
    assert "Benefit | Amount\n\nBike | 1,500 euros" in page.text
    assert [path for _, path in page.sections] == [
        "", "Leave policy", "Leave policy \u203a Parental leave", "Expenses"
    ]
    starts = dict((path, start) for start, path in page.sections)
    assert page.text[starts["Leave policy \u203a Parental leave"] :].startswith("Parental leave\n\nParents")


def test_docx_title_falls_back_to_the_first_heading(tmp_path):
    doc = load(_write_docx(tmp_path / "handbook.docx", title=""), tmp_path)
    assert doc.title == "Leave policy"


def test_docx_localized_heading_styles_are_found_by_name(tmp_path):
    path = _write_docx(tmp_path / "handbook.docx")
    # Word in German names the style ids "berschrift1"; the style names stay "heading 1".
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    for name in ("word/document.xml", "word/styles.xml"):
        parts[name] = re.sub(rb'(w:val|w:styleId)="Heading(\d)"', rb'\1="berschrift\2"', parts[name])
    # Without outline levels in the styles, only their names tell that they are headings.
    parts["word/styles.xml"] = re.sub(rb"<w:outlineLvl [^>]*/>", b"", parts["word/styles.xml"])
    assert b"berschrift1" in parts["word/document.xml"] and b"berschrift1" in parts["word/styles.xml"]
    localized = tmp_path / "lokal.docx"
    with zipfile.ZipFile(localized, "w") as target:
        for name, data in parts.items():
            target.writestr(name, data)
    sections = load(localized, tmp_path).pages[0].sections
    assert [path for _, path in sections][1:] == ["Leave policy", "Leave policy \u203a Parental leave", "Expenses"]


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
MC = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


def test_docx_outline_levels_content_controls_and_revisions(tmp_path):
    styles = f"""<w:styles {W}>
      <w:style w:type="paragraph" w:styleId="H2"><w:name w:val="heading 2"/></w:style>
      <w:style w:type="paragraph" w:styleId="Fancy"><w:name w:val="Fancy"/><w:basedOn w:val="H2"/></w:style>
    </w:styles>"""
    body = f"""<w:document {W} {MC}><w:body>
      <w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Chapter</w:t></w:r></w:p>
      <w:p><w:pPr><w:pStyle w:val="Fancy"/></w:pPr><w:r><w:t>Section</w:t></w:r></w:p>
      <w:sdt><w:sdtContent><w:p><w:r><w:t xml:space="preserve">Kept </w:t></w:r><w:del><w:r><w:delText>deleted
        </w:delText></w:r></w:del><w:r><w:fldChar w:fldCharType="begin"/></w:r>
        <w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r>
        <w:r><mc:AlternateContent><mc:Choice><w:drawing><w:txbxContent>
        <w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:txbxContent>
        <w:p><w:r><w:t>boxed</w:t></w:r></w:p></w:txbxContent></mc:Fallback></mc:AlternateContent></w:r></w:p>
      </w:sdtContent></w:sdt>
    </w:body></w:document>"""
    with zipfile.ZipFile(tmp_path / "hand.docx", "w") as archive:
        archive.writestr("word/document.xml", body)
        archive.writestr("word/styles.xml", styles)
    doc = load(tmp_path / "hand.docx", tmp_path)
    assert doc.title == "Chapter"
    assert doc.pages[0].text == "Chapter\n\nSection\n\nKept \nboxed"
    assert doc.pages[0].sections == ((0, "Chapter \u203a Section"),)


def test_damaged_docx_fail_with_a_reason(tmp_path):
    whole = _write_docx(tmp_path / "whole.docx").read_bytes()
    cases = {
        "truncated.docx": (whole[: len(whole) // 2], "damaged DOCX"),
        "random.docx": (random.Random(0).randbytes(4096), "damaged DOCX"),
        "encrypted.docx": (bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504), "password-protected document"),
    }
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(LoadError, match=reason):
            load(tmp_path / name, tmp_path)


def test_docx_without_its_document_part_or_with_bad_xml(tmp_path):
    with zipfile.ZipFile(tmp_path / "other.docx", "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with zipfile.ZipFile(tmp_path / "bad.docx", "w") as archive:
        archive.writestr("word/document.xml", "<w:document")
    with pytest.raises(LoadError, match=r"damaged DOCX \(no word/document.xml"):
        load(tmp_path / "other.docx", tmp_path)
    with pytest.raises(LoadError, match=r"damaged DOCX \(bad XML"):
        load(tmp_path / "bad.docx", tmp_path)


def test_docx_zip_bomb_is_refused_by_its_declared_size(tmp_path):
    with zipfile.ZipFile(tmp_path / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", "<document/>")
    data = bytearray((tmp_path / "bomb.docx").read_bytes())
    # The uncompressed size in the central directory, which is what zipfile believes.
    struct.pack_into("<I", data, data.index(b"PK\x01\x02") + 24, 300 * 2**20)
    (tmp_path / "bomb.docx").write_bytes(bytes(data))
    with pytest.raises(LoadError, match="damaged DOCX .*implausibly large"):
        load(tmp_path / "bomb.docx", tmp_path)


def test_html_and_docx_passages_carry_their_heading(tmp_path):
    (tmp_path / "guide.html").write_bytes(PAGE.encode("latin-1"))
    count = lambda text: len(text.split())  # noqa: E731
    for path, phrase, heading in [
        (tmp_path / "guide.html", "then reboot", "Guide \u203a Install \u203a Linux"),
        (_write_docx(tmp_path / "handbook.docx"), "16 weeks", "Leave policy \u203a Parental leave"),
    ]:
        doc = load(path, tmp_path)
        passages = split(doc, count, 50, 10)
        assert all(doc.pages[0].text[p.start : p.end] == p.text for p in passages)
        assert [p.heading for p in passages if phrase in p.text] == [heading]


def test_a_running_header_is_dropped_and_a_page_of_one_line_kept(tmp_path):
    pages = [[f"Acme Corp | Q3 2023 Form 10-Q | {n}", f"Section {n} says what page {n} is about.", "More text of it."] for n in range(1, 5)]
    document = load(write_pdf(tmp_path / "report.pdf", pages))
    assert [p.text.splitlines()[0] for p in document.pages] == [f"Section {n} says what page {n} is about." for n in range(1, 5)]
    # Pages whose only line repeats are all content: nothing is dropped.
    labels = load(write_pdf(tmp_path / "labels.pdf", [["Background"]] * 4))
    assert [p.text for p in labels.pages] == ["Background"] * 4


def test_a_browsers_header_and_footer_drawn_last_are_both_dropped(tmp_path):
    # A browser's print of a page draws its own header and footer after the page: both end its text.
    topics = ["leave", "travel", "security", "payroll"]
    pages = [
        [f"The {topic} policy is on this page.", f"More on {topic}.",
         "12/2/26, 6:23 PM Northwind Robotics 10-Q", f"file:///home/ann/nwrb-20230701.htm {n}/4"]
        for n, topic in enumerate(topics, start=1)
    ]
    document = load(write_pdf(tmp_path / "printed.pdf", pages))
    assert [p.text for p in document.pages] == [f"The {t} policy is on this page.\nMore on {t}." for t in topics]
    # A line inside the page's edge is dropped only beside a running line: the same closing line
    # of each page stays where the line after it is the page's own.
    kept = [[f"The {t} policy is on this page.", "See the notes.", f"Signed for {t}."] for t in topics]
    assert [p.text.splitlines()[1] for p in load(write_pdf(tmp_path / "kept.pdf", kept)).pages] == ["See the notes."] * 4
