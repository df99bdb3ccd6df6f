"""Read PowerPoint (.pptx), Excel (.xlsx) and CSV files into pages of text.

A slide is a page: its number is the slide's number and its title the heading it sits under.
A sheet is a section under its sheet name, a row a paragraph of "Header: value" pairs, so that
every passage cut from it names its columns whatever rows it holds. A CSV file reads as one sheet.

These run in the sandboxed worker (ragapp.sandbox), under its time and memory limits; on top of
those, the declared sizes of an archive's parts and the number of cells read are capped, so a
hostile file fails quickly with a reason rather than by running out of time or memory.
"""

from __future__ import annotations

import csv
import datetime
import io
import zipfile
from collections.abc import Iterable, Iterator
from typing import Any

from openpyxl.utils import get_column_letter

from ragapp.documents import Page
from ragapp.loaders import LoadError, _decode_text

# Uncompressed, as the zip's directory declares it (reading stops there, so checking it is enough):
# far beyond any real part, well short of a zip bomb.
MAX_PART = 200 * 2**20
MAX_PARTS_TOTAL = 1024 * 2**20
# Cells read from a workbook or CSV file, empty ones inside a row included (a row counts at least
# one): about 5 MB of text and a few thousand passages. A file over it is refused, not cut: a part
# of a table stored as if it were all of it would answer questions about the rest with "not found".
MAX_CELLS = 200_000

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office keeps an encrypted .pptx/.xlsx in an OLE compound file


def _opened_zip(data: bytes, what: str) -> io.BytesIO:
    """The bytes as a file to open, once the zip's directory shows no implausibly large part."""
    if data.startswith(_OLE_MAGIC):
        raise LoadError("password-protected document")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise LoadError(f"damaged {what} (not a zip archive, or a truncated one)") from None
    for info in infos:
        if info.file_size > MAX_PART:
            raise LoadError(f"damaged {what} ({info.filename} is implausibly large)")
    if sum(info.file_size for info in infos) > MAX_PARTS_TOTAL:
        raise LoadError(f"damaged {what} (its parts are implausibly large together)")
    return io.BytesIO(data)


def _damaged(what: str, exc: Exception) -> LoadError:
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return LoadError(f"damaged {what} ({detail})")


def _clean(text: str) -> str:
    # python-pptx gives a line break inside a paragraph as a vertical tab.
    lines = (" ".join(line.split()) for line in text.replace("\v", "\n").splitlines())
    return "\n".join(line for line in lines if line)


# ---------------------------------------------------------------------------------------- PowerPoint


def read_pptx(data: bytes) -> tuple[str | None, list[Page]]:
    """(title, a page per slide): the slide's title, then the text of its shapes and tables in
    their order on the slide, then its speaker notes."""
    import pptx

    source = _opened_zip(data, "PPTX")
    try:
        presentation = pptx.Presentation(source)
        title = _clean(presentation.core_properties.title or "")
        pages = [_slide_page(number, slide) for number, slide in enumerate(presentation.slides, start=1)]
    except LoadError:
        raise
    except MemoryError:
        raise  # not damage: the worker reports the memory limit
    except Exception as exc:  # python-pptx raises many types on malformed input
        raise _damaged("PPTX", exc) from None
    first_title = next((heading for page in pages for _, heading in page.sections), None)
    return title or first_title, pages


def _slide_page(number: int, slide) -> Page:
    title_shape = slide.shapes.title
    title = " ".join(_clean(title_shape.text_frame.text).split()) if title_shape is not None else ""
    blocks = [title] if title else []
    blocks += [text for text in _shape_texts(slide.shapes, skip=title_shape) if text]
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        notes = [_clean(paragraph.text) for paragraph in slide.notes_slide.notes_text_frame.paragraphs]
        notes = [text for text in notes if text]
        if notes:  # the speaker's notes, marked as such: what the slide says comes first
            notes[0] = f"Notes: {notes[0]}"
            blocks += notes
    return Page(number, "\n\n".join(blocks), ((0, title),) if title else ())


def _shape_texts(shapes, skip) -> Iterator[str]:
    """A block per paragraph of each shape's text and per row of each table: a slide's bullets are
    statements of their own, to be quoted one by one (a line break inside one is only wrapping)."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    # The slide number, date and footer repeat on every slide: noise in every passage.
    boilerplate = (PP_PLACEHOLDER.SLIDE_NUMBER, PP_PLACEHOLDER.DATE, PP_PLACEHOLDER.FOOTER)
    for shape in shapes:
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if shape.is_placeholder and shape.placeholder_format.type in boilerplate:
            continue
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shape_texts(shape.shapes, skip)
        elif shape.has_text_frame:
            yield from (_clean(paragraph.text) for paragraph in shape.text_frame.paragraphs)
        elif shape.has_table:
            for row in shape.table.rows:  # as a Word table's: its cells " | " apart
                yield " | ".join(text for text in (" ".join(cell.text.split()) for cell in row.cells) if text)


# ------------------------------------------------------------------------------------ Excel and CSV


def read_xlsx(data: bytes) -> tuple[str | None, list[Page]]:
    """(title, one page): a section per visible sheet, under the sheet's name."""
    import openpyxl

    source = _opened_zip(data, "XLSX")
    try:
        # read_only streams each sheet's XML instead of building it in memory; data_only reads the
        # values formulas had when the file was saved (a formula's text answers nothing).
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # openpyxl raises many types on malformed input
        raise _damaged("XLSX", exc) from None
    try:
        title = _clean(workbook.properties.title or "") if workbook.properties else ""
        budget = _CellBudget()
        blocks: list[str] = []
        sections: list[tuple[int, str]] = []
        position = 0
        for sheet in workbook.worksheets:
            # Hidden sheets are left out, as hidden parts of a web page are: no one reading the
            # workbook sees them, and hidden text is a way to slip instructions to the model.
            if sheet.sheet_state != "visible":
                continue
            # The dimension a sheet declares is not trusted: "A1:XFD1048576" would have every row
            # padded to 16,384 cells.
            sheet.reset_dimensions()
            rows = budget.rows(sheet.iter_rows(values_only=True), f"sheet '{sheet.title}'")
            sheet_blocks = _table_blocks(rows)
            if not sheet_blocks:
                continue
            name = " ".join(str(sheet.title).split())
            sections.append((position, name))
            sheet_blocks.insert(0, name)
            for block in sheet_blocks:
                position += len(block) + 2
            blocks += sheet_blocks
    except LoadError:
        raise
    except MemoryError:
        raise
    except Exception as exc:
        raise _damaged("XLSX", exc) from None
    finally:
        workbook.close()
    if not blocks:
        raise LoadError("no values in it (its visible sheets are empty)")
    return title or None, [Page(None, "\n\n".join(blocks), tuple(sections))]


def read_csv(data: bytes) -> tuple[str | None, list[Page]]:
    """(no title, one page): the rows, as a sheet's are; the delimiter is detected."""
    text = _decode_text(data)
    # A few lines, cut at a line's end, tell ";" from "," or a tab; the sniffer's patterns take
    # time that grows faster than the sample, so a whole file is never given to it.
    sample = text[:8192]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # a single column, or too irregular to tell: the standard comma
        dialect = csv.excel
    try:
        rows = _CellBudget().rows(csv.reader(io.StringIO(text, newline=""), dialect), "the file")
        blocks = _table_blocks(rows)
    except csv.Error as exc:
        raise LoadError(f"damaged CSV ({exc})") from None
    if not blocks:
        raise LoadError("no values in it (only delimiters and blank lines)")
    return None, [Page(None, "\n\n".join(blocks))]


class _CellBudget:
    """Counts the cells read, across all the sheets of a workbook, and refuses the file at MAX_CELLS."""

    def __init__(self) -> None:
        self.cells = 0

    def rows(self, rows: Iterable[tuple[Any, ...] | list[Any]], where: str) -> Iterator[tuple[Any, ...] | list[Any]]:
        for number, row in enumerate(rows, start=1):
            self.cells += max(1, len(row))
            if self.cells > MAX_CELLS:
                raise LoadError(
                    f"too large a table to read: more than {MAX_CELLS:,} cells (reached at row {number} "
                    f"of {where}); split it into smaller files"
                )
            yield row


def _table_blocks(rows: Iterable[tuple[Any, ...] | list[Any]]) -> list[str]:
    """A paragraph per row: "Header: value; Header: value", its empty cells left out.

    The header is the first row with two or more cells filled in; rows above it (a table's title,
    a note) are paragraphs of their values. A cell with no header is named by its column letter."""
    blocks: list[str] = []
    header: list[str] | None = None
    for row in rows:
        values = [_cell_text(value) for value in row]
        if not any(values):
            continue
        if header is None:
            if sum(1 for value in values if value) >= 2:
                header = [value or get_column_letter(i) for i, value in enumerate(values, start=1)]
                blocks.append("; ".join(value for value in values if value))
            else:
                blocks.append(" ".join(value for value in values if value))
            continue
        pairs = [
            f"{header[i] if i < len(header) else get_column_letter(i + 1)}: {value}"
            for i, value in enumerate(values)
            if value
        ]
        blocks.append("; ".join(pairs))
    return blocks


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # as a spreadsheet shows them
    if isinstance(value, float):
        # As a spreadsheet shows it: 1200 not 1200.0, 0.3 not 0.30000000000000004.
        return format(value, ".15g")
    if isinstance(value, datetime.datetime):  # a date alone is kept as a datetime at midnight
        return value.date().isoformat() if value.time() == datetime.time(0) else value.isoformat(sep=" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return " ".join(str(value).split())
