"""Tables of a PDF page found from where their text sits, written as rows that keep their headers.

A PDF has no tables, only text drawn at places: a financial statement's row reads in the page's
text as "Gross margin 36,413 35,885 130,000 125,000", its numbers far from the column headers
("Three Months Ended" over "July 1, 2023" and "June 25, 2022") that say what each is. Retrieval then
cannot tell the quarter's figure from last year's, and an answer quoting the row says nothing of
which number is which. So each table is written row by row as

    Gross margin: $36,413 (Three Months Ended July 1, 2023); $35,885 (Three Months Ended June 25, 2022)

one paragraph per row, as spreadsheet rows are (ragapp.office): the row's label, then each value
with the headers of its column. The rest of the page keeps PDFium's text as it was.

How a table is found, from runs of words placed on the page (the reader merges words a space
apart into one run: ragapp.loaders._text_runs), and only in regions() of the text:
- runs are put into lines by height on the page, each line's runs are its cells;
- a row is a line that starts with a label and has numbers to its right ("$" before, ")" or "%"
  after a number belong to it);
- a table is two or more rows together, with the label-only lines between them ("Operating
  expenses:");
- its columns are the numbers that stand one above another (their extents overlap);
- its headers are the lines just above its first row whose cells all sit over the columns (not a
  caption such as "(In millions)", nor a sentence): a line with a cell per column names them in
  order, else each column takes its nearest cell ("Three Months Ended" over two);
- a label wrapped over two lines is one label, the figures on either line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# A value of a table: a number with its sign, currency, parentheses and percent sign, or a dash
# for none; "2023" alone is a number too (a year in a header is told apart by where it sits).
_VALUE = re.compile(r"^[($€£¥-]*\s*[$€£¥]?\s*\d(?:[\d,.]*\d)?\s*[)%]*\s*%?\)?$|^[-\u2013\u2014]$")
_CURRENCY = {"$", "€", "£", "¥", "US$"}
_AFTER = {")", "%", ")%", "%)"}
_SPACES = re.compile(r"\s{2,}")
# A line that ends in two or more figures: a table's row as PDFium's text has it.
_ROW_END = re.compile(r"(?:[\s$€£(]\(?[$€£]?\s?(?:\d(?:[\d,.]*\d)?|[-\u2013\u2014])\)?%?){2,}\s*$")
REGION_GAP_LINES = 6  # label-only lines and wrapped labels between two rows
REGION_HEAD_LINES = 12  # a table's headers, a text line per cell: "Three Months Ended", "July 1,", "2023", ...

# Lines above a table that are its caption, not its headers: "(In millions)", a title in capitals.
_CAPTION = re.compile(r"^\((?:in|dollars|amounts|\$|€|£)\b|\(unaudited\)", re.IGNORECASE)
_CAPITALS = re.compile(r"^[^a-z]*\b[A-Z]{3,}\b[^a-z]*\b[A-Z]{3,}\b[^a-z]*$")
MIN_ROWS = 2  # fewer rows are a line of prose with numbers, not a table
MAX_HEADER_LINES = 4
MAX_GROUP_WORDS = 4  # a label-only line that names the rows below it ("Earnings per share:")
HEADER_REACH = 90.0  # points left of a column that its heading may start (centred over a wide cell)
MAX_LABEL_ONLY_WORDS = 20  # a label-only line between rows ("Operating expenses:", a label wrapped); longer is prose
MAX_HEADER_WORDS = 10  # a column heading ("Weighted-Average Exercise Price per Share"); longer is prose
# Last words of a label that goes on in the next line ("April 2, 2023 to" / "May 6, 2023").
_GOES_ON = frozenset("to and or of for from in on at by with the a an through ended ending".split())


@dataclass
class _Cell:
    text: str
    x0: float
    x1: float
    bottom: float
    top: float
    start: int  # offset of its text in the page text
    end: int
    wrapped: bool = False  # the end of a label wrapped from the line above ("... to May 6," / "2023")

    @property
    def is_value(self) -> bool:
        return not self.wrapped and bool(_VALUE.match(self.text))


@dataclass
class _Line:
    cells: list[_Cell]
    bottom: float
    top: float

    @property
    def label(self) -> str:
        return " ".join(c.text for c in self.cells if not c.is_value) if not self.cells[0].is_value else ""

    @property
    def first_start(self) -> int:
        """Where the line's text starts in the page's text."""
        return min(c.start for c in self.cells)

    def values(self) -> list[_Cell]:
        return [c for c in self.cells if c.is_value]

    @property
    def is_row(self) -> bool:
        # A label, then values only: "Products $ 60,584 $ 63,355"; prose with a number in it
        # ("increased 8% to $1,234 million") has words after its numbers.
        if len(self.cells) < 2 or self.cells[0].is_value:
            return False
        first_value = next((i for i, c in enumerate(self.cells) if c.is_value), None)
        return first_value is not None and all(c.is_value for c in self.cells[first_value:])

    def is_label_only(self, numbers_from: float) -> bool:
        """A line of words only, left of where the table's numbers start ("Operating expenses:");
        prose runs on over the numbers' columns."""
        return (not any(c.is_value for c in self.cells) and self.cells[-1].x1 < numbers_from
                and sum(len(c.text.split()) for c in self.cells) <= MAX_LABEL_ONLY_WORDS)


@dataclass
class _Column:
    x0: float
    x1: float
    heads: list[str] = field(default_factory=list)

    @property
    def header(self) -> str:
        return " ".join(self.heads)


def is_figure(word: str) -> bool:
    """Whether a word is a table's value or its currency sign ("$", "1,234", "(265)", "8%", "—")."""
    return word in _CURRENCY or bool(_VALUE.match(word))


def regions(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the parts of a page's text that may hold a table: two or more lines
    that end in two or more numbers ("Gross margin 36,413 35,885"), with the lines just above them
    (where headers are). Only these are looked at closely: placing words costs time, and most
    pages (prose, an index of page numbers, formulas) have no such lines."""
    lines, position = [], 0
    for line in text.splitlines(keepends=True):
        lines.append((position, position + len(line), bool(_ROW_END.search(line))))
        position += len(line)
    found: list[tuple[int, int]] = []
    rows = [i for i, (_, _, is_row) in enumerate(lines) if is_row]
    i = 0
    while i < len(rows):
        j = i
        while j + 1 < len(rows) and rows[j + 1] - rows[j] <= REGION_GAP_LINES:
            j += 1
        if j > i:  # two rows or more
            first = max(0, rows[i] - REGION_HEAD_LINES)
            start, end = lines[first][0], lines[rows[j]][1]
            if found and start <= found[-1][1]:
                found[-1] = (found[-1][0], end)
            else:
                found.append((start, end))
        i = j + 1
    return found


def rewrite_tables(text: str, runs: list[tuple[str, float, float, float, float]]) -> str:
    """The page text with each table found written row by row with its headers; the text as it was
    where no table is found, or where the runs cannot be placed in the text.

    runs: (text, left, bottom, right, top) of each run of words of the page (in PDF points, y up),
    in the page text's order."""
    cells = _cells(text, runs)
    if cells is None:
        return text
    lines = _lines(cells)
    tables = _tables(lines)
    if not tables:
        return text
    pieces, position = [], 0
    for header_lines, body, columns in tables:
        region = [c for line in header_lines + body for c in line.cells]
        start, end = min(c.start for c in region), max(c.end for c in region)
        # Text of the page that is not the table's but sits between its runs (a footnote drawn
        # mid-table): the table is left as it was rather than lose it.
        if start < position or any(
            start <= c.start < end and not any(r.start <= c.start < r.end for r in region) for c in cells
        ):
            continue
        pieces.append(text[position:start])
        pieces.append(f"\n\n{_written(body, columns)}\n\n")
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _cells(text: str, runs) -> list[_Cell] | None:
    """The runs placed in the text, split where their text has a wide gap; None when one is not found."""
    cells, position = [], 0
    for run_text, left, bottom, right, top in runs:
        stripped = run_text.strip()
        if not stripped:
            continue
        found = text.find(stripped, position)
        if found < 0:
            return None
        position = found + len(stripped)
        # One run can hold several cells ("Products    60,584"): split it at runs of spaces, each
        # part placed across the run's width by its share of the characters.
        parts = [(m.start(), m.end()) for m in re.finditer(r"\S+(?: \S+)*", stripped)] if _SPACES.search(stripped) else [(0, len(stripped))]
        width = (right - left) / max(1, len(stripped))
        for a, b in parts:
            cells.append(_Cell(stripped[a:b], left + a * width, left + b * width, bottom, top, found + a, found + b))
    return cells


def _lines(cells: list[_Cell]) -> list[_Line]:
    """The cells as lines, top of the page first, each line's cells left to right, with "$" joined
    to the number after it and ")" or "%" to the one before."""
    lines: list[_Line] = []
    for cell in sorted(cells, key=lambda c: -(c.bottom + c.top)):
        middle = (cell.bottom + cell.top) / 2
        line = lines[-1] if lines else None
        if line is not None and line.bottom <= middle <= line.top:
            line.cells.append(cell)
            line.bottom, line.top = min(line.bottom, cell.bottom), max(line.top, cell.top)
        else:
            lines.append(_Line([cell], cell.bottom, cell.top))
    for line in lines:
        line.cells = _joined(sorted(line.cells, key=lambda c: c.x0))
    for above, line in zip(lines, lines[1:]):
        # "April 2, 2023 to May 6," over "2023   721   83.24": the year that starts the line, where
        # the label above starts, ends that label; the figures follow it.
        first = line.cells[0]
        if (len(line.cells) >= 3 and first.is_value and not any(c.is_value for c in above.cells)
                and abs(first.x0 - above.cells[0].x0) <= 2 and _goes_on(" ".join(c.text for c in above.cells), first.text)):
            first.wrapped = True
    return lines


def _joined(cells: list[_Cell]) -> list[_Cell]:
    joined: list[_Cell] = []
    pending: _Cell | None = None  # a "$" waiting for its number
    for cell in cells:
        if cell.text in _CURRENCY:
            pending = cell
            continue
        if pending is not None:
            if cell.is_value:
                cell = _Cell(f"{pending.text}{cell.text}", pending.x0, cell.x1, min(pending.bottom, cell.bottom),
                             max(pending.top, cell.top), min(pending.start, cell.start), max(pending.end, cell.end))
            else:
                joined.append(pending)
            pending = None
        if cell.text in _AFTER and joined and joined[-1].is_value:
            last = joined[-1]
            joined[-1] = _Cell(f"{last.text}{cell.text}", last.x0, cell.x1, last.bottom, last.top, last.start, max(last.end, cell.end))
            continue
        joined.append(cell)
    if pending is not None:
        joined.append(pending)
    return joined


def _tables(lines: list[_Line]) -> list[tuple[list[_Line], list[_Line], list[_Column]]]:
    """(header lines, body lines, columns with their headers) of each table of the page, top first."""
    tables = []
    i = 0
    while i < len(lines):
        if not lines[i].is_row:
            i += 1
            continue
        # The body: rows and the label-only lines among them, until a line that is neither.
        numbers_from = min(c.x0 for c in lines[i].values())
        j = i
        # A table is drawn line after line: a line whose text came earlier in the page's text (a
        # running header drawn first, placed at the foot of the page) is not the table's.
        while j < len(lines) and (lines[j].is_row or lines[j].is_label_only(numbers_from)) and (
            j == i or lines[j].first_start > lines[j - 1].first_start
        ):
            if lines[j].is_row:
                numbers_from = min(numbers_from, *(c.x0 for c in lines[j].values()))
            j += 1
        body = lines[i:j]
        while body and not body[-1].is_row:  # a label-only line after the last row is the text's
            body.pop()
        rows = [line for line in body if line.is_row]
        if len(rows) < MIN_ROWS:
            i = j
            continue
        columns = _columns(rows)
        # A label-only line left of the numbers is a row's ("Net sales:"); one over them heads
        # the columns ("Three Months Ended").
        first = i
        while first > 0 and i - first < 2 and lines[first - 1].is_label_only(columns[0].x0 - 1):
            first -= 1
        headers = _header_lines(lines[:first], columns)
        # One column of numbers without a header is a list ("Teilraum, 4": an index), not a table.
        if len(columns) >= 2 or headers:
            tables.append((headers, lines[first:i] + body, columns))
        i = i + len(body)
    return tables


def _columns(rows: list[_Line]) -> list[_Column]:
    """The table's columns: its values grouped where their extents overlap, left to right."""
    spans = sorted((c.x0, c.x1) for row in rows for c in row.values())
    columns: list[_Column] = []
    for x0, x1 in spans:
        if columns and x0 < columns[-1].x1:
            columns[-1].x1 = max(columns[-1].x1, x1)
        else:
            columns.append(_Column(x0, x1))
    return columns


def _header_lines(above: list[_Line], columns: list[_Column]) -> list[_Line]:
    """The lines just above the table whose cells all sit over its columns, top first; each column
    is given the texts of the header cells over it, top to bottom."""
    # A header may start a little left of its column (centred over "$" and the number); a cell
    # further left is a caption ("(In millions)") or text.
    left = columns[0].x0 - max(columns[0].x1 - columns[0].x0, HEADER_REACH)
    headers: list[_Line] = []
    for line in reversed(above[-MAX_HEADER_LINES:]):
        if not all(c.x0 >= left for c in line.cells) or any(
            _CAPTION.search(c.text) or _CAPITALS.match(c.text) or _is_prose(c.text) for c in line.cells
        ):
            break
        if headers and line.first_start > headers[0].first_start:
            break  # drawn after the line below it: not the table's heading
        headers.insert(0, line)
    for line in headers:
        if len(line.cells) == len(columns):  # a heading for each column, in their order
            for cell, column in zip(line.cells, columns):
                column.heads.append(cell.text)
            continue
        for column in columns:
            # Each column takes the nearest cell of the line: a centred heading over two columns
            # ("Three Months Ended") is nearer to both than the next heading is.
            cell = min(line.cells, key=lambda c: _gap(c, column))
            if _gap(cell, column) <= max(column.x1 - column.x0, 40.0):
                column.heads.append(cell.text)
    return headers


def _is_prose(text: str) -> bool:
    """A sentence above a table ("Revenue by region was as follows (in millions):"), not a heading:
    a browser lays a wide table's columns out so far apart that text may sit over them."""
    words = text.split()
    return len(words) > MAX_HEADER_WORDS or text.endswith(":") or (text.endswith(".") and len(words) > 3)


def _goes_on(label: str, next_label: str) -> bool:
    """Whether a label-only line is the first line of the next line's label, wrapped: the next
    starts in lower case or with a number ("... to January" / "31, 2023"), or this one ends in a
    word that leads on ("April 2, 2023 to" / "May 6, 2023")."""
    if not next_label:
        return True  # a row of figures only: its label is the line above
    if label.endswith(":"):
        return False  # a group's heading ("Net sales:") names the rows below, it is not their label
    last = label.split()[-1].lower() if label.split() else ""
    return next_label[:1].islower() or next_label[:1].isdigit() or last in _GOES_ON or label.endswith((",", "-", "\u2013"))


def _gap(cell: _Cell, column: _Column) -> float:
    """How far apart a cell and a column are across the page (0 where they overlap)."""
    return max(0.0, column.x0 - cell.x1, cell.x0 - column.x1)


def _written(body: list[_Line], columns: list[_Column]) -> str:
    """The table as paragraphs: label-only lines as they are, each row "Label: value (header); ...".

    A short label-only line that ends in ":" heads the rows indented below it ("Earnings per share:" over
    "Basic" and "Diluted"), up to a row that is not indented further or that totals them ("Total net
    sales"): each of its rows is named with it ("Earnings per share, Diluted: $0.49 ..."), as a
    reader takes it."""
    paragraphs: list[str] = []
    carried, carried_x0 = "", 0.0  # a label-only line not yet written: it may wrap on to the next
    group, group_x0 = "", 0.0
    for line in body:
        x0 = line.cells[0].x0
        if not line.is_row:
            text = " ".join(c.text for c in line.cells)
            if carried and _goes_on(carried, text):
                carried = f"{carried} {text}"  # a label-only line wrapped over two lines
                continue
            if carried:
                paragraphs.append(carried)
            carried, carried_x0 = text, x0
            continue
        label = line.label
        if carried and _goes_on(carried, label):
            label = f"{carried} {label}".strip()  # a row's label wrapped over two lines
            x0 = carried_x0
        elif carried:
            paragraphs.append(carried)
            # A short heading names its rows; a long one ("Adjustments to reconcile net income to
            # cash generated by operating activities:") would only make them about everything it says.
            short = carried.endswith(":") and len(carried.split()) <= MAX_GROUP_WORDS
            group, group_x0 = (carried[:-1], carried_x0) if short else ("", 0.0)
        carried = ""
        name = label.rstrip(":;,. ")
        if group and (x0 <= group_x0 + 2 or name.lower().startswith("total")):
            group = ""  # back at the group's own indent, or its total: the group has ended
        elif group:
            name = f"{group}, {name}" if name else group
        values, before = [], ()
        for cell in line.values():
            column = next((col for col in columns if cell.x0 < col.x1 and col.x0 < cell.x1), None)
            heads = tuple(column.heads) if column is not None else ()
            # A heading the value before already named is not said again: "235 (Three Months
            # Ended June 30, 2024); 212 (June 30, 2023)".
            shared = 1 if len(heads) > 1 and before[:1] == heads[:1] else 0  # the spanning heading only
            header = " ".join(heads[shared:])
            before = heads
            values.append(f"{cell.text} ({header})" if header else cell.text)
        paragraphs.append(f"{name}: {'; '.join(values)}")
    if carried:
        paragraphs.append(carried)
    return "\n\n".join(paragraphs)
