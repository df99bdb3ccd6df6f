"""PDF tables: each row read with its label and the headers of its columns, the rest of the page as it was."""

from pathlib import Path

import pytest

from ragapp import loaders, tables

reportlab = pytest.importorskip("reportlab")


def _statement_pdf(path: Path) -> Path:
    """A page as a quarterly report prints it: a heading, a two-level header (a period over two
    dates, each date wrapped over two lines), "$" in cells of their own, a label-only line,
    negative figures in parentheses, and prose below."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    rows = [
        ["", "Three Months Ended", "", "", "", "Nine Months Ended", "", "", ""],
        ["", "July 1,\n2023", "", "June 25,\n2022", "", "July 1,\n2023", "", "June 25,\n2022", ""],
        ["Net sales:", "", "", "", "", "", "", "", ""],
        ["Products", "$", "60,584", "$", "63,355", "$", "230,901", "$", "240,000"],
        ["Services", "", "21,213", "", "19,604", "", "62,886", "", "56,000"],
        ["Total net sales", "", "81,797", "", "82,959", "", "293,787", "", "296,000"],
        ["Gross margin", "", "36,413", "", "35,885", "", "130,000", "", "125,000"],
        ["Other income/(expense), net", "", "(265)", "", "(10)", "", "(1,000)", "", "200"],
        ["Diluted earnings per share", "$", "1.26", "$", "1.20", "$", "4.67", "$", "4.60"],
    ]
    table = Table(rows)
    table.setStyle(TableStyle([("SPAN", (1, 0), (4, 0)), ("SPAN", (5, 0), (8, 0)), ("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
    styles = getSampleStyleSheet()
    SimpleDocTemplate(str(path), pagesize=letter, invariant=True).build([
        Paragraph("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)", styles["Heading3"]),
        Paragraph("(In millions, except per share amounts)", styles["Normal"]),
        table,
        Paragraph("Net sales increased 8% to $81,797 million in 2023 compared to 2022, because demand for "
                  "services rose in every region and 2,000 new customers signed contracts.", styles["Normal"]),
    ])
    return path


def test_a_table_row_keeps_its_label_and_each_value_its_column(tmp_path):
    document = loaders.load(_statement_pdf(tmp_path / "statement.pdf"))
    text = document.pages[0].text
    # A heading over two columns is said once for the two: the second value is of its period too.
    assert ("Gross margin: 36,413 (Three Months Ended July 1, 2023); 35,885 (June 25, 2022); "
            "130,000 (Nine Months Ended July 1, 2023); 125,000 (June 25, 2022)") in text
    assert "Products: $60,584 (Three Months Ended July 1, 2023)" in text  # "$" joined to its number
    assert "Other income/(expense), net: (265) (Three Months Ended July 1, 2023)" in text
    assert "Diluted earnings per share: $1.26 (Three Months Ended July 1, 2023)" in text
    # Each row is a paragraph of its own; the label-only line stays; the heading, the caption and
    # the prose below are PDFium's text as before.
    assert "\n\nServices: 21,213" in text and "Net sales:\n" in text
    assert text.startswith("CONDENSED CONSOLIDATED STATEMENTS OF OPERATIONS (Unaudited)\n(In millions, except per share amounts)")
    assert "Net sales increased 8% to $81,797 million in 2023 compared to 2022" in text
    assert text.count("60,584") == 1  # the table is written once, in place of its runs


def test_prose_with_numbers_keeps_its_text_exactly(tmp_path):
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    styles = getSampleStyleSheet()
    prose = ("In 2023 we hired 120 people, 45 in Berlin and 75 in Lisbon, against 80 in 2022 and 64 in 2021. "
             "Revenue was 1,234 in the first half and 1,456 in the second, 2,690 in all. ") * 6
    path = tmp_path / "prose.pdf"
    SimpleDocTemplate(str(path), invariant=True).build([Paragraph(prose, styles["Normal"]), *(Paragraph(line, styles["Normal"]) for line in ("Rooms closed this week: 12 34", "Desks moved in rows 6 and 7: 3 4 5"))])
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    textpage = pdf[0].get_textpage()
    original = textpage.get_text_range()
    assert tables.regions(original)  # so that its words are placed
    assert tables.rewrite_tables(original, loaders._text_runs(textpage, original)) == original
    textpage.close()
    pdf.close()


def test_a_cited_row_is_highlighted_on_its_page(tmp_path):
    from ragapp.pages import render_pdf_page

    path = _statement_pdf(tmp_path / "statement.pdf")
    text = loaders.load(path).pages[0].text
    row = next(line for line in text.splitlines() if line.startswith("Gross margin:"))
    rendered = render_pdf_page(path, 1, row)
    assert rendered.highlighted
    # The row's own line, one band, drawn below the "Services" row (pixels, top down); not the
    # column headings its figures are named by.
    services = render_pdf_page(path, 1, next(line for line in text.splitlines() if line.startswith("Services:")))
    assert len({(y0, y1) for _, y0, _, y1 in rendered.boxes}) == 1  # its label and each figure, on one line
    assert len(rendered.boxes) == 5
    assert rendered.boxes[0][1] > max(y1 for _, _, _, y1 in services.boxes) - 2


def _browser_like_pdf(path: Path) -> Path:
    """A table as a browser prints a filing's HTML: wide columns with "$" far left of its figure,
    a sentence above the table as wide as it, and labels wrapped over two lines with the figures on
    the second (cells aligned to the bottom)."""
    from reportlab.lib.pagesizes import letter
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    rows = [
        ["", "", "Three Months Ended", "", ""],
        ["", "", "March 31, 2024", "", "March 31, 2023"],
        ["United States", "$", "169", "$", "147"],
        ["China", "", "270", "", "235"],
        ["April 2, 2023 to May\n6, 2023", "", "721", "", "83"],
        ["May 7, 2023 to\nJune 3, 2023", "", "890", "", "77"],
        ["Balance at June 3,\n2023", "", "1,200", "", "1,100"],
        ["Total revenue", "$", "817", "$", "697"],
    ]
    table = Table(rows, colWidths=[1.3 * inch, 0.3 * inch, 2.0 * inch, 0.3 * inch, 2.0 * inch])
    table.setStyle(TableStyle([
        ("SPAN", (2, 0), (4, 0)), ("ALIGN", (2, 0), (-1, -1), "RIGHT"), ("ALIGN", (1, 0), (1, -1), "LEFT"),
        ("ALIGN", (3, 0), (3, -1), "LEFT"), ("VALIGN", (0, 0), (-1, -1), "BOTTOM"), ("FONTSIZE", (0, 0), (-1, -1), 8),
    ]))
    SimpleDocTemplate(str(path), pagesize=letter, invariant=True).build([
        Paragraph("The Company reports revenue by geographic region based on the location of the customer's "
                  "headquarters. Revenue by region was as follows (in millions):", styles["Normal"]),
        table,
    ])
    return path


def test_a_browser_printed_table_keeps_its_headings_and_wrapped_labels(tmp_path):
    text = loaders.load(_browser_like_pdf(tmp_path / "printed.pdf")).pages[0].text
    # The sentence above the table is not a heading of its columns, however far apart they are.
    assert "United States: $169 (Three Months Ended March 31, 2024); $147 (March 31, 2023)" in text
    assert "Revenue by region was as follows (in millions):" in text
    # A label wrapped over two lines is one label ("... to May" / "6, 2023"; "... to" / "June 3, 2023").
    assert "April 2, 2023 to May 6, 2023: 721 (Three Months Ended March 31, 2024)" in text
    assert "May 7, 2023 to June 3, 2023: 890 (Three Months Ended March 31, 2024)" in text
    # A year that starts the second line ends the label: it is not a figure.
    assert "Balance at June 3, 2023: 1,200 (Three Months Ended March 31, 2024); 1,100 (March 31, 2023)" in text
