"""Documents of a series (quarterly reports, yearly guides, policy versions): which period each is
of, which period a question asks about, and how a passage's document meets it.

A document's period comes from what it says of itself: a report's cover ("For the quarterly period
ended July 1, 2023"), else a date, quarter or year in its file name or title ("nwrb-20230701.pdf",
"guide-2025.pdf", "Q3 FY2023"). It is kept with each passage as `dated` ("2023-07-01", "2023-07",
"2025") and `quarter` ("2023-Q3", the report's own quarter where it names one).

A question names a period by date ("the quarter ended July 1, 2023", "as of 2023-09-30"), quarter
("Q3 2023", "the third quarter of fiscal 2023", "3Q23"), year ("the 2025 guide") or as the newest
("the latest report"). Retrieval prefers the passages of the documents of that period, and of
the newest document of a series where the question does not say which.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from ragapp.documents import Passage

_MONTHS = {name: i for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"], start=1)}
_MONTH_ABBREVIATIONS = {name[:3]: i for name, i in _MONTHS.items()} | {"sept": 9}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_WRITTEN_DATE = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}}),?\s+((?:19|20)\d\d)\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)[-_./]?(0[1-9]|1[0-2])[-_./]?(0[1-9]|[12]\d|3[01])(?!\d)")
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}
_QUARTER_PATTERNS = (
    # Q3 2023, Q3 FY2023, Q3 fiscal 2023, Q3-2023, q3_2023
    re.compile(r"\bq([1-4])[\s_-]*(?:of\s+)?(?:fy|fiscal(?:\s+year)?)?[\s_'-]*((?:19|20)?\d\d)\b", re.IGNORECASE),
    # 2023 Q3, FY2023 Q3, 2023q3, fiscal 2023 Q3
    re.compile(r"\b(?:fy|fiscal(?:\s+year)?)?[\s_-]*((?:19|20)\d\d)[\s_-]*q([1-4])\b", re.IGNORECASE),
    # 3Q23, 3Q 2023
    re.compile(r"\b([1-4])q[\s_-]*((?:19|20)?\d\d)\b", re.IGNORECASE),
    # the third quarter of (fiscal) 2023, third fiscal quarter of 2023
    re.compile(r"\b(first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:fiscal\s+)?quarter\s+(?:of\s+)?(?:fiscal\s+(?:year\s+)?)?(?:fy\s*)?((?:19|20)\d\d)\b", re.IGNORECASE),
    # fiscal 2023's third quarter, fiscal 2023 third quarter
    re.compile(r"\b(?:fiscal\s+(?:year\s+)?|fy\s*)((?:19|20)\d\d)(?:'s)?\s+(first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter\b", re.IGNORECASE),
)
_YEAR = re.compile(r"(?<![\d,.$])((?:19|20)\d\d)(?![\d,])")
_NEWEST = re.compile(r"\b(?:latest|newest|most recent|current|last|this|recent)\s+(?:(?:quarterly|annual|yearly|monthly)\s+)?"
                     r"(?:report|filing|quarter|version|edition|guide|policy|statement|release|10-?q|10-?k|period|document|one)s?\b",
                     re.IGNORECASE)
# A span of a report's year that a question names by its place ("the first half of fiscal 2024",
# "the first nine months", "year to date"), and the newest of a series ("its most recent 10-Q").
_SPAN = re.compile(r"\b(?:first|second|third|fourth|last)\s+(?:half|quarter|(?:three|six|nine|twelve)\s+months)\b|"
                   r"\byear[\s-]+to[\s-]+date\b|\b(?:latest|newest|most\s+recent)\b", re.IGNORECASE)
# The period a periodic report says it is of, on its cover or first page.
PERIOD_ENDED = re.compile(rf"\b(?:period|quarter|year|months)\s+ended\s+({_MONTH}\s+\d{{1,2}},?\s+(?:19|20)\d\d)", re.IGNORECASE)
# SEC covers name the company on the line above this one.
_REGISTRANT = re.compile(r"^\s*\(\s*exact name of registrant as specified in its charter\s*\)", re.IGNORECASE | re.MULTILINE)


def _date(match: re.Match) -> dt.date | None:
    month_word, day, year = match.group(1).lower().rstrip("."), int(match.group(2)), int(match.group(3))
    month = _MONTHS.get(month_word) or _MONTH_ABBREVIATIONS.get(month_word[:4]) or _MONTH_ABBREVIATIONS.get(month_word[:3])
    try:
        return dt.date(year, month, day) if month else None
    except ValueError:
        return None


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def dates_in(text: str) -> list[dt.date]:
    """The calendar dates the text writes ("July 1, 2023", "2023-07-01", "20230701"), in order."""
    found = [d for m in _WRITTEN_DATE.finditer(text) if (d := _date(m))]
    for m in _ISO_DATE.finditer(text):
        try:
            found.append(dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            pass
    return found


def quarters_in(text: str) -> list[tuple[int, int]]:
    """(year, quarter) of each quarter the text names ("Q3 2023", "the third quarter of fiscal 2023")."""
    found = []
    for pattern in _QUARTER_PATTERNS:
        for m in pattern.finditer(text):
            a, b = m.group(1), m.group(2)
            if a.lower() in _ORDINALS or a.isdigit() and len(a) == 1:
                quarter, year = _ORDINALS.get(a.lower()) or int(a), b
            else:
                year, quarter = a, _ORDINALS.get(b.lower()) or int(b)
            found.append((_year(year), quarter))
    return found


@dataclass(frozen=True)
class Dated:
    """The period a document is of: `dated` ISO date, month or year ("" when unknown) and the
    quarter it names as its own ("2023-Q3", or "")."""

    dated: str = ""
    quarter: str = ""


def document_period(source: str, title: str, first_text: str, text: str = "") -> Dated:
    """The period of a document, from its first page's "period ended" phrase, else its file name,
    else its title; its quarter from the name or title, else (for a report) from the quarter it
    names most in its text, the latest of those when tied."""
    name = re.sub(r"\.[A-Za-z0-9]{1,5}$", "", source.rsplit("/", 1)[-1])
    dated = ""
    cover = PERIOD_ENDED.search(first_text[:6000])
    if cover:
        found = dates_in(cover.group(1))
        dated = found[0].isoformat() if found else ""
    for where in (name, title):
        if dated:
            break
        found = dates_in(where)
        if found:
            dated = found[0].isoformat()
        elif (years := _YEAR.findall(where)) and len(set(years)) == 1:
            dated = years[0]
    quarter = ""
    for where in (name, title):
        named = quarters_in(where)
        if named:
            quarter = "%d-Q%d" % named[0]
            break
    if not quarter and cover and text:
        counts: dict[tuple[int, int], int] = {}
        for q in quarters_in(text):
            counts[q] = counts.get(q, 0) + 1
        if counts:
            most = max(counts.values())
            if most >= 2:
                quarter = "%d-Q%d" % max(q for q, n in counts.items() if n == most)
    if not dated and quarter:
        dated = quarter[:4]
    return Dated(dated, quarter)


def registrant(first_text: str) -> str:
    """The company a securities filing is of: the line above "(Exact name of registrant as
    specified in its charter)" on its cover; "" for other documents."""
    m = _REGISTRANT.search(first_text[:8000])
    if not m:
        return ""
    lines = [line.strip() for line in first_text[: m.start()].splitlines() if line.strip()]
    return " ".join(lines[-1].split()) if lines else ""


@dataclass(frozen=True)
class Asked:
    """The period a question names: dates, quarters, years; or the newest of a series."""

    dates: frozenset[str] = frozenset()
    quarters: frozenset[str] = frozenset()
    years: frozenset[str] = frozenset()
    newest: bool = False

    def __bool__(self) -> bool:
        return bool(self.dates or self.quarters or self.years or self.newest)

    def matches(self, dated: str, quarter: str) -> float:
        """How well a document of this period meets the question: 1 for its date or quarter, 0.5
        for its year alone, 0 otherwise."""
        if not dated and not quarter:
            return 0.0
        if dated in self.dates or quarter and quarter in self.quarters:
            return 1.0
        if self.quarters and len(dated) == 10 and not quarter:
            # A report without a quarter of its own: the calendar quarter its period ends in.
            year, month = int(dated[:4]), int(dated[5:7])
            if f"{year}-Q{(month - 1) // 3 + 1}" in self.quarters:
                return 1.0
        if self.dates or self.quarters:
            return 0.0
        return 0.5 if dated[:4] in self.years or quarter[:4] in self.years else 0.0


def asked_period(question: str) -> Asked:
    """The period the question names, if any."""
    dates = frozenset(d.isoformat() for d in dates_in(question))
    quarters = frozenset("%d-Q%d" % q for q in quarters_in(question))
    spoken = _WRITTEN_DATE.sub(" ", question)
    years = frozenset(_YEAR.findall(spoken)) if not dates and not quarters else frozenset()
    return Asked(dates, quarters, years, bool(_NEWEST.search(question)))


def without_periods(question: str) -> str:
    """The question without the periods it names (dates, quarters, spans of a year, the newest),
    which a dated document's period answers rather than the words of its sentences."""
    for pattern in (_WRITTEN_DATE, _ISO_DATE, *_QUARTER_PATTERNS, _NEWEST, _SPAN):
        question = pattern.sub(" ", question)
    return question


def series_key(source: str) -> str:
    """What the file names of one series share: the name without its digits ("nwrb-#.pdf")."""
    return re.sub(r"\d+", "#", source.rsplit("/", 1)[-1].lower())


def source_line(cited: "Sequence[Passage]", sources: "Iterable[str]") -> str:
    """The line that names the documents an answer is from, where they are of a series (which
    quarter's report answered matters): "From Acme, Inc.: report for the quarterly period ended
    July 1, 2023 (acme-20230701.pdf)."; "" otherwise. sources: every document's source."""
    counts: dict[str, int] = {}
    for source in sources:
        counts[series_key(source)] = counts.get(series_key(source), 0) + 1
    named: list[tuple[str, str]] = []
    for p in cited:
        if p.dated and counts.get(series_key(p.source), 0) >= 2 and all(p.source != s for _, s in named):
            named.append((p.title, p.source))
    if not named:
        return ""
    return "From " + "; ".join(f"{title} ({source})" if title else source for title, source in named) + "."


def groups(passages: "Iterable[Passage]") -> dict[str, list["Passage"]]:
    """The passages of documents of a series, by series: two or more documents of different
    periods whose file names differ only in their digits ("nwrb-20230701.pdf", "nwrb-20231230.pdf")."""
    found: dict[str, list[Passage]] = {}
    for p in passages:
        if p.dated:
            found.setdefault(series_key(p.source), []).append(p)
    return {key: members for key, members in found.items() if len({p.dated for p in members}) >= 2}


def of_the_period(asked: Asked, passages: "Sequence[Passage]") -> tuple[set[str], set[str]]:
    """(doc ids of the documents of a series that are of the period the question names, doc ids
    of the other documents of those series); both empty when it names no period any of them is of."""
    chosen: set[str] = set()
    set_aside: set[str] = set()
    if not (asked.dates or asked.quarters or asked.years):
        return chosen, set_aside
    for members in groups(passages).values():
        matching = {p.doc_id for p in members if asked.matches(p.dated, p.quarter) == 1.0}
        if matching:
            chosen |= matching
            set_aside |= {p.doc_id for p in members} - matching
    return chosen, set_aside
