"""Which documents a question may see: a person's filter (folders, types, documents), and the
scope it becomes (document ids) for Chroma and the word index alike."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from ragapp.store.manifest import DocumentRecord


def file_type(source: str) -> str:
    """A document's type as filters name it: its extension, lower case, without the dot."""
    return Path(source).suffix.lower().lstrip(".")


@dataclass(frozen=True)
class Filter:
    """Restricts a question to some documents: by source path, folder or file type.

    Within one kind any value may match (documents a OR b); kinds combine (in folder f AND a PDF).
    """

    documents: tuple[str, ...] = ()  # source paths, as listed by `ragapp documents`
    folders: tuple[str, ...] = ()  # folders of source paths: "handbook" holds "handbook/x.md"
    types: tuple[str, ...] = ()  # file types: "pdf", "md", "txt"

    KINDS = {"doc": "documents", "document": "documents", "folder": "folders", "type": "types"}

    @classmethod
    def parse(cls, specs: Sequence[str]) -> "Filter":
        """From `doc=handbook/expenses.md`, `folder=handbook`, `type=pdf` (each may repeat)."""
        chosen: dict[str, list[str]] = {"documents": [], "folders": [], "types": []}
        for spec in specs:
            kind, _, value = spec.partition("=")
            field_name = cls.KINDS.get(kind.strip().lower())
            if field_name is None or not value.strip():
                raise ValueError(f"cannot read the filter {spec!r}: use doc=PATH, folder=FOLDER or type=EXTENSION")
            value = value.strip()
            if field_name == "types":
                value = value.lower().lstrip("*").lstrip(".")
            chosen[field_name].append(value.strip("/") if field_name == "folders" else value)
        return cls(**{name: tuple(values) for name, values in chosen.items()})

    def is_empty(self) -> bool:
        return not (self.documents or self.folders or self.types)

    def matches(self, record: "DocumentRecord") -> bool:
        source = record.source
        if self.documents and source not in self.documents:
            return False
        if self.folders and not any(source.startswith(f.strip("/") + "/") for f in self.folders):
            return False
        if self.types and file_type(source) not in {t.lower().lstrip(".") for t in self.types}:
            return False
        return True

    def describe(self) -> str:
        parts = [*self.documents, *(f"{f.strip('/')}/" for f in self.folders), *(f"*.{t.lstrip('.')}" for t in self.types)]
        return ", ".join(parts)


@dataclass(frozen=True)
class Scope:
    """The documents one search may see, by id: only `doc_ids` (all when None), never
    `exclude_doc_ids`."""

    doc_ids: list[str] | None = None
    exclude_doc_ids: list[str] = field(default_factory=list)

    def chroma_where(self) -> dict | None:
        conditions = []
        if self.doc_ids is not None:
            conditions.append({"doc_id": {"$in": self.doc_ids}})
        if self.exclude_doc_ids:
            conditions.append({"doc_id": {"$nin": self.exclude_doc_ids}})
        if not conditions:
            return None
        return conditions[0] if len(conditions) == 1 else {"$and": conditions}
