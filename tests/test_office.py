"""PowerPoint, Excel and CSV files, made here, ingested as a person would: slides cited by number
and title, spreadsheet rows that keep their column headers, hostile workbooks refused with a reason."""

import re
import struct
import zipfile

import openpyxl
import pptx
import pytest
from pptx.util import Inches

from ragapp.loaders import load
from ragapp.retriever import retrieve

HEADERS = ["Code", "Region", "Budget", "Owner"]
OWNERS = ["Alice", "Bruno", "Chen", "Dana"]


def _statuses(report):
    return {o.source: (o.status, o.reason) for o in report.outcomes}


def _passages(pipeline, source):
    (record,) = [r for r in pipeline.documents() if r.source == source]
    return sorted(pipeline.store().passages_of(record.doc_id), key=lambda p: p.index)


def write_deck(path):
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[0])  # title slide
    first.shapes.title.text = "Quarterly review"
    first.placeholders[1].text = "Second quarter of the Nordic region"
    second = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    second.shapes.title.text = "Revenue"
    second.placeholders[1].text_frame.text = "Revenue grew 12 percent"
    second.placeholders[1].text_frame.add_paragraph().text = "The Oslo office opened in May"
    second.notes_slide.notes_text_frame.text = "Thank the Bergen sales team."
    third = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    third.shapes.title.text = "Hiring plan"
    table = third.shapes.add_table(3, 2, Inches(1), Inches(2), Inches(6), Inches(1.5)).table
    for (row, col), text in {(0, 0): "Team", (0, 1): "Hires", (1, 0): "Support", (1, 1): "4 engineers",
                             (2, 0): "Sales", (2, 1): "2 managers"}.items():
        table.cell(row, col).text = text
    deck.save(path)
    return path


def write_workbook(path, rows=300):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Projects"
    sheet.append(HEADERS)
    for n in range(1, rows + 1):
        sheet.append([f"KX{n:03d}", ["North", "South", "East"][n % 3], 1000 + 7 * n, OWNERS[n % 4]])
    contacts = book.create_sheet("Contacts")
    contacts.append(["Name", "Phone"])
    contacts.append(["Alice", "555-0101"])
    book.save(path)
    return path


def _stored(pipeline, tmp_path, write, name: str) -> None:
    """A file made by write() in a folder of its own, ingested and stored."""
    folder = tmp_path / "docs"
    folder.mkdir()
    write(folder / name)
    assert _statuses(pipeline.ingest([folder]))[name][0] == "added"


def test_slides_are_cited_by_number_with_their_titles_as_headings(fake_pipeline, tmp_path):
    _stored(fake_pipeline, tmp_path, write_deck, "review.pptx")
    (record,) = fake_pipeline.documents()
    assert record.kind == "pptx" and record.title == "Quarterly review" and record.pages == 3
    passages = _passages(fake_pipeline, "review.pptx")
    by_slide = {p.page: p for p in passages}
    assert sorted(by_slide) == [1, 2, 3]
    assert [by_slide[n].heading for n in (1, 2, 3)] == ["Quarterly review", "Revenue", "Hiring plan"]
    assert by_slide[2].location() == "review.pptx, slide 2 · Revenue"
    # Bullets stay statements of their own; the speaker's notes are read, marked as notes.
    assert "Revenue grew 12 percent\n\nThe Oslo office opened in May" in by_slide[2].text
    assert "Notes: Thank the Bergen sales team." in by_slide[2].text
    # A table on a slide: a row per line, as in a Word table.
    assert "Support | 4 engineers\n\nSales | 2 managers" in by_slide[3].text
    hit = retrieve("How many engineers does the support team hire?", fake_pipeline.embedder, fake_pipeline.store(), 1)
    assert hit[0].passage.location() == "review.pptx, slide 3 · Hiring plan"


def test_every_passage_of_a_sheet_names_its_columns(fake_pipeline, tmp_path):
    _stored(fake_pipeline, tmp_path, write_workbook, "projects.xlsx")
    passages = _passages(fake_pipeline, "projects.xlsx")
    projects = [p for p in passages if p.heading == "Projects"]
    assert len(projects) >= 5  # 300 rows make many passages (60 tokens each in these tests)
    for passage in projects:
        assert all(f"{header}: " in passage.text for header in HEADERS), passage.text
    contacts = [p for p in passages if p.heading == "Contacts"]
    assert len(contacts) == 1 and "Name: Alice; Phone: 555-0101" in contacts[0].text
    assert {p.location() for p in contacts} == {"projects.xlsx · Contacts"}


def test_a_cell_is_found_by_its_row_label_and_column(fake_pipeline, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    write_workbook(folder / "projects.xlsx")
    fake_pipeline.ingest([folder])
    hits = retrieve("What is the budget of project KX137?", fake_pipeline.embedder, fake_pipeline.store(), 3)
    assert "Code: KX137; Region: East; Budget: 1959; Owner: Bruno" in hits[0].passage.text
    assert hits[0].passage.heading == "Projects"


def test_csv_delimiter_and_encoding_are_detected(fake_pipeline, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    # As Excel saves "CSV" in Germany: semicolons (a comma is in the values), Windows-1252.
    rows = [
        "Büro;Stadt;Miete (€);Bemerkung",
        "Hauptsitz;Zürich;4500;Nähe Bahnhof, größere Räume",
        "Filiale;Köln;2100;Übergangslösung bis März",
        "Lager;Malmö;900;Zufahrt über die Straße",
    ]
    (folder / "büros.csv").write_bytes("\r\n".join(rows).encode("cp1252"))
    report = fake_pipeline.ingest([folder])
    assert _statuses(report)["büros.csv"][0] == "added"
    text = "\n\n".join(p.text for p in _passages(fake_pipeline, "büros.csv"))
    assert "Büro: Hauptsitz; Stadt: Zürich; Miete (€): 4500; Bemerkung: Nähe Bahnhof, größere Räume" in text
    assert "Büro: Lager; Stadt: Malmö; Miete (€): 900; Bemerkung: Zufahrt über die Straße" in text


def test_title_rows_above_the_header_and_empty_cells(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Price list 2025"])  # a title above the table is no header
    sheet.append([])
    sheet.append(["Item", "Price", "Note"])
    sheet.append(["Chair", 49.9, None])
    sheet.append(["Desk", 0.1 + 0.2, "on sale"])
    book.save(tmp_path / "prices.xlsx")
    text = load(tmp_path / "prices.xlsx", tmp_path).pages[0].text
    assert text == (
        "Sheet\n\nPrice list 2025\n\nItem; Price; Note\n\nItem: Chair; Price: 49.9\n\nItem: Desk; Price: 0.3; Note: on sale"
    )


def _rewritten(path, name, change):
    """The Office file at path with one part's XML changed."""
    with zipfile.ZipFile(path) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    parts[name] = change(parts[name])
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for part, data in parts.items():
            target.writestr(part, data)
    return path


def _small_workbook(path, rows=1):
    book = openpyxl.Workbook()
    book.active.append(["Code", "Budget"])
    for n in range(1, rows + 1):
        book.active.append([f"KX{n:03d}", 1000 + n])
    book.save(path)
    return path


def _claiming_the_largest_sheet(xml):
    return re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)


def _with_a_value_in_the_far_corner(xml):
    corner = b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
    return _claiming_the_largest_sheet(xml).replace(b"</sheetData>", corner)


def test_hostile_workbooks_fail_quickly_with_a_reason(fake_pipeline, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    sheet = "xl/worksheets/sheet1.xml"
    # Declares the largest sheet there can be, holds 21 rows: read as the rows it holds (taken at
    # its word, its rows would be 16,384 cells wide, 344,064 cells in all).
    _rewritten(_small_workbook(folder / "claims.xlsx", rows=20), sheet, _claiming_the_largest_sheet)
    # Two real cells a sheet apart: a million rows and 16,384 columns between them.
    _rewritten(_small_workbook(folder / "corner.xlsx"), sheet, _with_a_value_in_the_far_corner)
    # A zip bomb: its directory says the sheet unpacks to 300 MB.
    data = bytearray(_small_workbook(folder / "bomb.xlsx").read_bytes())
    # The sheet's entry in the central directory, whose file name follows a 46-byte header.
    (at,) = [m.start() for m in re.finditer(rb"PK\x01\x02", data) if data[m.start() + 46 :].startswith(sheet.encode())]
    struct.pack_into("<I", data, at + 24, 300 * 2**20)  # the uncompressed size zipfile believes
    (folder / "bomb.xlsx").write_bytes(bytes(data))

    # Each reason is the reader's own: none of them is the worker's time or memory limit.
    statuses = _statuses(fake_pipeline.ingest([folder]))
    assert statuses["claims.xlsx"][0] == "added"
    text = "\n\n".join(p.text for p in _passages(fake_pipeline, "claims.xlsx"))
    assert "Code: KX001; Budget: 1001" in text and "Code: KX020; Budget: 1020" in text
    assert statuses["corner.xlsx"][0] == "failed"
    assert re.fullmatch(r"too large a table to read: more than 200,000 cells \(reached at row \d+ of sheet "
                        r"'Sheet'\); split it into smaller files", statuses["corner.xlsx"][1])
    assert statuses["bomb.xlsx"] == ("failed", f"damaged XLSX ({sheet} is implausibly large)")


def test_damaged_office_files_fail_with_a_reason(tmp_path):
    from ragapp.loaders import LoadError

    (tmp_path / "cut.pptx").write_bytes(write_deck(tmp_path / "whole.pptx").read_bytes()[:3000])
    (tmp_path / "locked.xlsx").write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504))
    (tmp_path / "book.pptx").write_bytes(_small_workbook(tmp_path / "book.xlsx").read_bytes())
    (tmp_path / "commas.csv").write_bytes(b";;;\r\n;;;\r\n")
    for name, reason in [
        ("cut.pptx", r"damaged PPTX \(not a zip archive, or a truncated one\)"),
        ("locked.xlsx", r"password-protected document"),
        ("book.pptx", r"damaged PPTX \(.*not a PowerPoint file"),
        ("commas.csv", r"no values in it"),
    ]:
        with pytest.raises(LoadError, match=reason):
            load(tmp_path / name, tmp_path)
