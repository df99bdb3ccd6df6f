"""Documents of a series: the period each is of, the period a question names, and retrieval that
answers from the document of that period (the newest where the question names none)."""

import pytest
from fakes import HashEmbedder

from ragapp import series
from ragapp.ingestion import ingest
from ragapp.retriever import retrieve


@pytest.mark.parametrize("question, dates, quarters, years, newest", [
    ("What was the gross margin in the quarter ended July 1, 2023?", {"2023-07-01"}, set(), set(), False),
    ("Cash and cash equivalents as of 2023-09-30?", {"2023-09-30"}, set(), set(), False),
    ("What was revenue in Q3 2023?", set(), {"2023-Q3"}, set(), False),
    ("Net income in the third quarter of fiscal 2024?", set(), {"2024-Q3"}, set(), False),
    ("Diluted EPS for 3Q23?", set(), {"2023-Q3"}, set(), False),
    ("What does the 2025 guide say about parental leave?", set(), set(), {"2025"}, False),
    ("What were sales in the most recent quarter?", set(), set(), set(), True),
    ("What does the latest report say about debt?", set(), set(), set(), True),
    ("How many days of paid leave do I get?", set(), set(), set(), False),
    ("How much is 2,000 euros in dollars?", set(), set(), set(), False),
])
def test_the_period_a_question_names(question, dates, quarters, years, newest):
    asked = series.asked_period(question)
    assert (set(asked.dates), set(asked.quarters), set(asked.years), asked.newest) == (dates, quarters, years, newest)


def test_a_report_is_of_the_period_its_cover_names_else_its_file_name_says():
    cover = "FORM 10-Q\nFor the quarterly period ended July 1, 2023\nor\nTRANSITION REPORT"
    mda = "Net sales in the third quarter of fiscal 2023 rose against the third quarter of fiscal 2022. " * 2
    assert series.document_period("nwrb-q.pdf", "", cover, cover + mda) == series.Dated("2023-07-01", "2023-Q3")
    assert series.document_period("reports/acme-20240330.pdf", "", "Quarterly report") == series.Dated("2024-03-30", "")
    assert series.document_period("acme-2023-q2.pdf", "", "") == series.Dated("2023", "2023-Q2")
    assert series.document_period("staff-guide-2025.pdf", "Staff guide", "") == series.Dated("2025", "")
    # A policy that mentions a date is not a report of that date.
    assert series.document_period("leave-policy.md", "Leave policy", "Effective from January 1, 2024, all staff") == series.Dated()


def test_a_filings_cover_names_its_company():
    cover = "UNITED STATES\nFORM 10-Q\n\nNORTHWIND ROBOTICS, INC.\n(Exact name of registrant as specified in its charter)\nDelaware"
    assert series.registrant(cover) == "NORTHWIND ROBOTICS, INC."
    assert series.registrant("An ordinary document") == ""


def _quarterly_reports(folder):
    """Four look-alike reports of one company, the same table in each, the figures of each quarter."""
    figures = {"acme-20230401.md": ("2023-04-01", "1,210"), "acme-20230701.md": ("2023-07-01", "1,355"),
               "acme-20230930.md": ("2023-09-30", "1,402"), "acme-20231230.md": ("2023-12-30", "1,530")}
    folder.mkdir()
    for name, (date, revenue) in figures.items():
        (folder / name).write_text(
            f"# Acme quarterly report\n\nFor the quarterly period ended {date}.\n\n"
            f"Total revenue: ${revenue} (Three Months Ended); operating costs rose with volume.\n\n"
            "Risk factors: demand for our products may fall; suppliers may raise prices.\n"
        )
    (folder / "handbook.md").write_text("# Handbook\n\nTotal revenue is reported each quarter by the finance team.\n")
    return figures


@pytest.mark.parametrize("question, expected", [
    ("What was Acme's total revenue in the quarter ended July 1, 2023?", "acme-20230701.md"),
    ("What was Acme's total revenue as of 2023-09-30?", "acme-20230930.md"),
    ("What was Acme's total revenue in the latest quarterly report?", "acme-20231230.md"),
    ("What was Acme's total revenue?", "acme-20231230.md"),  # no period named: the newest
])
def test_a_question_naming_a_period_is_answered_from_that_report(tmp_path, open_test_store, question, expected):
    _quarterly_reports(tmp_path / "reports")
    store = open_test_store(tmp_path / "store")
    ingest([tmp_path / "reports"], store, HashEmbedder(), chunk_size=60, chunk_overlap=10)
    hits = retrieve(question, HashEmbedder(), store, 3)
    assert hits[0].passage.source == expected
    assert hits[0].passage.dated  # the period is kept with each passage
