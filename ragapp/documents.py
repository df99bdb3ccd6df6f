"""The plain data that flows between the stages: documents, passages, hits, answers."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

# The Chroma metadata key that holds a passage's fields other than its document and text (see
# Passage.metadata).
PACKED_KEY = "passage"


class QuestionError(ValueError):
    """A question that cannot be asked as it is (empty, too long); the message says why."""


class DataError(ValueError):
    """Plain data (from another process) that does not describe what it should; the message
    names the part that is wrong."""


def _checked(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    # bool is an int to isinstance, and never what a page number or an offset means.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise DataError(f"{where} is {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Page:
    """Text of one page (PDF), one slide (PowerPoint) or a whole file (number None: text, Markdown,
    HTML, DOCX, spreadsheets)."""

    number: int | None
    text: str
    # (start offset, heading path) of each part of the page that sits under one heading, in order
    # (from a PDF's outline, HTML or DOCX headings); empty when the file says nothing of its headings this way.
    sections: tuple[tuple[int, str], ...] = ()

    def to_data(self) -> dict[str, Any]:
        sections = [[start, heading] for start, heading in self.sections]
        return {"number": self.number, "text": self.text, "sections": sections}

    @classmethod
    def from_data(cls, data: Any, where: str = "page") -> "Page":
        """The Page that `to_data` gave; DataError for anything else."""
        _checked(data, dict, where)
        sections = []
        for i, section in enumerate(_checked(data.get("sections"), list, f"{where}.sections")):
            if not isinstance(section, list) or len(section) != 2:
                raise DataError(f"{where}.sections[{i}] is not a (start, heading) pair")
            sections.append((_checked(section[0], int, f"{where}.sections[{i}] start"),
                             _checked(section[1], str, f"{where}.sections[{i}] heading")))
        return cls(
            number=_checked(data.get("number"), (int, type(None)), f"{where}.number"),
            text=_checked(data.get("text"), str, f"{where}.text"),
            sections=tuple(sections),
        )


@dataclass(frozen=True)
class Document:
    """A parsed file: where it lives, what it is called, and its text page by page."""

    path: str  # absolute path
    source: str  # path relative to the folder it was ingested from
    title: str
    kind: str  # "pdf", "markdown", "text", "html", "docx", "pptx", "xlsx", "csv" or "image"
    content_hash: str
    pages: tuple[Page, ...]
    ocr_pages: int = 0  # pages whose text was read from their image by OCR (ragapp.ocr)

    @property
    def doc_id(self) -> str:
        """Stable identity of the file in a store: its absolute path."""
        return document_id(self.path)

    def to_data(self) -> dict[str, Any]:
        """The document as plain data (JSON's types), for a process that must not unpickle."""
        return {
            "path": self.path, "source": self.source, "title": self.title, "kind": self.kind,
            "content_hash": self.content_hash, "pages": [page.to_data() for page in self.pages],
            "ocr_pages": self.ocr_pages,
        }

    @classmethod
    def from_data(cls, data: Any) -> "Document":
        """The Document that `to_data` gave, every field checked; DataError for anything else."""
        _checked(data, dict, "the document")
        names = ("path", "source", "title", "kind", "content_hash")
        fields = {name: _checked(data.get(name), str, name) for name in names}
        pages = _checked(data.get("pages"), list, "pages")
        ocr_pages = _checked(data.get("ocr_pages", 0), int, "ocr_pages")  # absent: no page read by OCR
        if not 0 <= ocr_pages <= len(pages):
            raise DataError(f"ocr_pages is {ocr_pages}, for {len(pages)} pages")
        return cls(**fields, pages=tuple(Page.from_data(page, f"pages[{i}]") for i, page in enumerate(pages)),
                   ocr_pages=ocr_pages)


def document_id(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:24]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Passage:
    """A piece of a document small enough to embed, remembering exactly where it came from."""

    id: str
    doc_id: str
    text: str
    source: str
    path: str
    title: str
    page: int | None
    start: int  # character offset in the page (or file) text
    end: int
    content_hash: str
    index: int  # position of the passage within its document
    heading: str = ""  # the headings it sits under: "Handbook › Expenses › Travel"
    # The period its document is of (ragapp.series): "2023-07-01", "2023-07" or "2025", and the
    # quarter the document names as its own ("2023-Q3"); "" when it says none.
    dated: str = ""
    quarter: str = ""

    def metadata(self) -> dict[str, Any]:
        """Chroma metadata, in three keys: doc_id (which searches filter on), the text, and the
        rest as one JSON object. Chroma keeps each key of each record as a row of its own:
        storing 812 passages took 0.57 s with a key per field and 0.39 s with doc_id and the text
        alone. The text is not Chroma's document: Chroma indexes documents for a full-text
        search of its own, which ragapp never asks for (its word index does that)."""
        rest = {k: v for k, v in asdict(self).items() if k not in ("id", "doc_id", "text") and v is not None and v != ""}
        return {"doc_id": self.doc_id, "text": self.text, PACKED_KEY: json.dumps(rest, ensure_ascii=False, separators=(",", ":"))}

    @classmethod
    def from_record(cls, passage_id: str, document: str | None, metadata: dict[str, Any]) -> "Passage":
        """The passage of a Chroma record. Records stored before are read too: with a key per
        field (before the fields were packed), and with the text as Chroma's document."""
        if PACKED_KEY in metadata:
            metadata = {**json.loads(metadata[PACKED_KEY]), **metadata}
        return cls(
            id=passage_id,
            doc_id=metadata["doc_id"],
            text=metadata.get("text", document if document is not None else ""),
            source=metadata["source"],
            path=metadata["path"],
            title=metadata.get("title", ""),
            page=metadata.get("page"),
            start=int(metadata["start"]),
            end=int(metadata["end"]),
            content_hash=metadata["content_hash"],
            index=int(metadata.get("index", 0)),
            heading=metadata.get("heading", ""),
            dated=str(metadata.get("dated", "")),
            quarter=str(metadata.get("quarter", "")),
        )

    @property
    def headline(self) -> str:
        """The document's title and the headings the passage sits under, each named once."""
        if not self.heading or self.heading == self.title:
            return self.title
        if self.heading.startswith(self.title + " \u203a"):
            return self.heading
        return f"{self.title} \u203a {self.heading}"

    def location(self) -> str:
        """How a person finds it: `FILE, page P · Heading › Subheading` (no page for text files;
        "slide" for a PowerPoint file's, whose pages are its slides)."""
        # The stored file's suffix, not the source's: an upload's source is the name it was given.
        unit = "slide" if self.path.lower().endswith(".pptx") else "page"
        where = f"{self.source}, {unit} {self.page}" if self.page is not None else self.source
        return f"{where} · {self.heading}" if self.heading else where


def passage_id(doc_id: str, content_hash: str, page: int | None, start: int, text: str) -> str:
    """Deterministic id, so re-ingesting the same content converges on the same records."""
    key = f"{doc_id}|{content_hash}|{page}|{start}|{text}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Hit:
    """A retrieved passage and how close it is to the question (cosine similarity)."""

    passage: Passage
    score: float


@dataclass(frozen=True)
class Citation:
    """A passage the answer cites as [n]."""

    n: int
    passage: Passage

    @property
    def source(self) -> str:
        return self.passage.source

    @property
    def page(self) -> int | None:
        return self.passage.page

    @property
    def text(self) -> str:
        return self.passage.text

    @property
    def title(self) -> str:
        return self.passage.title

    def location(self) -> str:
        return self.passage.location()

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "page": self.page, "heading": self.passage.heading, "text": self.text}


@dataclass
class Timings:
    """Seconds spent: retrieving, until the first answer token, and in all."""

    retrieval_s: float = 0.0
    first_token_s: float | None = None
    total_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "retrieval_s": round(self.retrieval_s, 4),
            "first_token_s": None if self.first_token_s is None else round(self.first_token_s, 4),
            "total_s": round(self.total_s, 4),
        }


GENERATED, EXTRACTIVE, DECLINED = "generated", "extractive", "declined"
PATH_NOTES = {
    GENERATED: "Quoted from the passages, then a sentence of the model's, checked against the passage it cites.",
    EXTRACTIVE: "Quoted from the passages.",
    DECLINED: "Declined: nothing in the documents answers this.",
}


@dataclass
class Answer:
    """What the user sees: the answer text, the passages it cites, and how it was produced.

    path is EXTRACTIVE (sentences quoted from the passages), GENERATED (quoted sentences and then
    one of the model's, checked against the passage it cites) or
    DECLINED (the documents don't contain the answer; `related` then holds the closest passages).
    """

    question: str
    text: str
    citations: list[Citation]
    refused: bool
    timings: Timings = field(default_factory=Timings)
    hits: list[Hit] = field(default_factory=list)
    path: str = GENERATED
    withheld: int = 0  # sentences of the model's answer not shown: unsupported, or beside the question
    related: list[Hit] = field(default_factory=list)
    query: str = ""  # what was searched: the question, or a follow-up joined to the one before
    lead: str = ""  # what an overview summarises ("Summary of Expenses and travel (expenses.md): ...")
    notice: str = ""  # what went wrong on the way, in words ("No sentence from the model: the model server ...")

    def how_answered(self, details: bool = True) -> str:
        """One line for the user: which path produced the answer, and (details) what was withheld."""
        text = PATH_NOTES[self.path]
        if self.notice:
            text += f" {self.notice}"
        if self.withheld and details:
            plural = self.withheld != 1
            text += (
                f" {self.withheld} statement{'s' if plural else ''} of the model withheld: "
                "not backed by the passages, or beside the question."
            )
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "lead": self.lead,
            "query": self.query,
            "refused": self.refused,
            "path": self.path,
            "withheld": self.withheld,
            "citations": [c.to_json() for c in self.citations],
            "related": [
                {"source": h.passage.source, "page": h.passage.page, "heading": h.passage.heading,
                 "text": h.passage.text, "score": round(h.score, 4)}
                for h in self.related
            ],
            "timings": self.timings.to_json(),
        }
