"""The look-alike 10-Q filing set (tests/filings.py): files, questions answerable from their own filing, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pypdfium2 as pdfium

from filings import filing_list, main, make_filings, write_filings


def _pages(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [doc[i].get_textpage().get_text_range() for i in range(len(doc))]
    finally:
        doc.close()


def test_generated_filings_and_questions(tmp_path: Path):
    out = tmp_path / "filings"
    assert main([str(out), "--seed", "0"]) == 0

    pdfs = sorted(out.glob("*.pdf"))
    listed = json.loads((out / "filings.json").read_text())
    assert len(pdfs) == 12
    assert sorted(f["file"] for f in listed) == [p.name for p in pdfs]
    assert {f["ticker"] for f in listed} == {"NWRB", "HLVF", "CRVL"}
    nwrb = [f for f in listed if f["ticker"] == "NWRB"]
    assert nwrb[0]["file"] == "nwrb-20230701.pdf" and nwrb[0]["label"] == "Q3 FY2023"
    assert nwrb[1]["period_end"] == "2023-12-30" and nwrb[1]["fiscal_year"] == 2024  # fiscal 2024 began in October

    questions = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert 60 <= len(questions) <= 90
    assert len({q["id"] for q in questions}) == len(questions)
    unanswerable = [q for q in questions if q["kind"] == "unanswerable"]
    assert 0.05 <= len(unanswerable) / len(questions) <= 0.20
    assert all(q["doc"] is None and q["answers"] == [] and q["answerable"] is False for q in unanswerable)

    texts = {p.name: _pages(p) for p in pdfs}
    for name, pages in texts.items():
        assert 8 <= len(pages) <= 14, (name, len(pages))
        assert "FORM 10-Q" in pages[0] and "CONDENSED CONSOLIDATED BALANCE SHEETS" in "\n".join(pages)
    for q in questions:
        if q["kind"] == "unanswerable":
            continue
        assert q["doc"] in texts, q
        assert any(q["answers"][0] in page for page in texts[q["doc"]]), q

    # A prior-year column repeats the filing a year earlier (nothing restated).
    def row(name: str, label: str) -> list[str]:
        page = next(p for p in texts[name] if "STATEMENTS OF OPERATIONS" in p)
        line = next(x for x in page.splitlines() if x.startswith(label + " "))
        return line[len(label):].replace("$", "").split()

    for label in ("Total net sales", "Net income", "Diluted"):
        assert row("nwrb-20240629.pdf", label)[1::2] == row("nwrb-20230701.pdf", label)[0::2]
    assert row("crvl-20240630.pdf", "Total revenue")[1::2] == row("crvl-20230630.pdf", "Total revenue")[0::2]

    # Same seed, same questions and the same bytes; another seed, other figures.
    again = write_filings(tmp_path / "again", seed=0)
    assert again == questions
    assert (tmp_path / "again" / "hlvf-20230630.pdf").read_bytes() == (out / "hlvf-20230630.pdf").read_bytes()
    one, other = make_filings(0)[0], make_filings(1)[0]
    assert one.model.three(one.fy, one.q) != other.model.three(other.fy, other.q)
    assert [f["file"] for f in filing_list(1)] == [f["file"] for f in listed]


def test_the_filings_printed_by_a_browser_read_as_the_same_tables(tmp_path: Path):
    """The same filings as HTML pages printed by Chromium (as people save them from EDGAR): the
    browser lays the tables out, and the reader still gives each statement row with its columns."""
    import pytest
    from browser.harness import CHROMIUM, NO_CHROMIUM

    from ragapp import loaders

    if not CHROMIUM.is_file():
        pytest.skip(NO_CHROMIUM)
    printed = tmp_path / "printed"
    assert main([str(printed), "--seed", "0", "--browser", str(CHROMIUM)]) == 0
    assert write_filings(tmp_path / "drawn", seed=0) == [
        json.loads(line) for line in (printed / "questions.jsonl").read_text().splitlines()
    ]

    def rows(path: Path) -> list[str]:
        _, pages = loaders._read_pdf_with_pdfium(path)
        return [line for page in pages for line in page.text.splitlines() if line.startswith(("Gross margin: ", "Net income: ", "Total assets: "))]

    for name in ("nwrb-20230701.pdf", "hlvf-20240331.pdf"):
        by_browser, by_reportlab = rows(printed / name), rows(tmp_path / "drawn" / name)
        assert by_browser and by_browser == by_reportlab, name
    gross = rows(printed / "nwrb-20230701.pdf")[0]
    assert gross.startswith("Gross margin: $") and "(Three Months Ended July 1, 2023); $" in gross
