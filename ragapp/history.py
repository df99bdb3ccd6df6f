"""Each user's conversation history, kept in SQLite: listed, searched and deleted by its owner only.

The database file is shared with the accounts module, so this module touches only its own tables
(`conversations` and `turns`). Every query names the owner, so one user can never see, extend or
delete another user's conversations, whatever conversation id they send.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

from ragapp.documents import Answer, Citation, Hit, Passage, Timings

TITLE_CHARS = 80

SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    collection TEXT NOT NULL,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    answer_text TEXT NOT NULL,  -- a copy of the answer's text, so search need not parse the JSON
    answer TEXT NOT NULL,       -- answer_to_record() as JSON
    asked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated_at);
CREATE INDEX IF NOT EXISTS turns_conversation ON turns(conversation_id, id);
"""


@dataclass(frozen=True)
class Conversation:
    id: int
    owner: str
    collection: str
    title: str  # the first question, cut to 80 characters
    created_at: float  # time.time()
    updated_at: float
    turns: int  # number of question/answer pairs


@dataclass(frozen=True)
class Turn:
    question: str
    answer: Answer
    asked_at: float


def _passage(data: dict[str, Any]) -> Passage:
    # Only the fields Passage knows, so a record written by a newer version still loads.
    return Passage(**{f.name: data[f.name] for f in fields(Passage) if f.name in data})


def _hits(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    return [{"passage": asdict(h.passage), "score": h.score} for h in hits]


def answer_to_record(answer: Answer) -> dict[str, Any]:
    """Everything the Answer holds, as plain JSON-serialisable values."""
    return {
        "question": answer.question,
        "text": answer.text,
        "citations": [{"n": c.n, "passage": asdict(c.passage)} for c in answer.citations],
        "refused": answer.refused,
        "timings": asdict(answer.timings),
        "hits": _hits(answer.hits),
        "path": answer.path,
        "withheld": answer.withheld,
        "related": _hits(answer.related),
        "query": answer.query,
        "lead": answer.lead,
    }


def answer_from_record(data: dict[str, Any]) -> Answer:
    """The Answer that answer_to_record() was given, rebuilt field for field."""
    def hits(key: str) -> list[Hit]:
        return [Hit(_passage(h["passage"]), h["score"]) for h in data.get(key, [])]

    return Answer(
        question=data["question"],
        text=data["text"],
        citations=[Citation(c["n"], _passage(c["passage"])) for c in data.get("citations", [])],
        refused=data["refused"],
        timings=Timings(**data.get("timings", {})),
        hits=hits("hits"),
        path=data.get("path", "generated"),
        withheld=data.get("withheld", 0),
        related=hits("related"),
        query=data.get("query", ""),
        lead=data.get("lead", ""),
    )


def _like_pattern(search: str) -> str:
    # Escape LIKE's wildcards so that "%", "_" and "\" in what the user typed match themselves.
    escaped = search.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class History:
    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the app's threads; the lock serialises its use.
        self._conn = sqlite3.connect(path, timeout=30, check_same_thread=False)
        self._lock = threading.Lock()
        # SQLite's own LIKE folds only ASCII case; casefold() makes "Ärger" find "ärger" too.
        self._conn.create_function("casefold", 1, lambda s: None if s is None else s.casefold(), deterministic=True)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")  # readers don't block the writer
            self._conn.execute("PRAGMA foreign_keys=ON")  # deleting a conversation deletes its turns
            self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def start(self, owner: str, collection: str, first_question: str) -> int:
        title = " ".join(first_question.split())[:TITLE_CHARS]
        now = time.time()
        with self._lock, self._conn:
            cur = self._conn.execute(
                "INSERT INTO conversations (owner, collection, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                (owner, collection, title, now, now),
            )
            return int(cur.lastrowid)

    def add_turn(self, owner: str, conversation_id: int, question: str, answer: Answer) -> None:
        now = time.time()
        record = json.dumps(answer_to_record(answer))
        with self._lock, self._conn:  # one transaction: the bump and the turn land together or not at all
            cur = self._conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ? AND owner = ?", (now, conversation_id, owner)
            )
            if cur.rowcount == 0:
                raise KeyError(conversation_id)
            self._conn.execute(
                "INSERT INTO turns (conversation_id, question, answer_text, answer, asked_at) VALUES (?, ?, ?, ?, ?)",
                (conversation_id, question, answer.text, record, now),
            )

    def conversations(
        self, owner: str, search: str = "", collections: Sequence[str] | None = None, limit: int = 200
    ) -> list[Conversation]:
        sql = ["SELECT c.id, c.owner, c.collection, c.title, c.created_at, c.updated_at,",
               "(SELECT COUNT(*) FROM turns t WHERE t.conversation_id = c.id)",
               "FROM conversations c WHERE c.owner = ?"]
        args: list[Any] = [owner]
        if collections is not None:
            if not collections:
                return []  # asked for no collections: nothing matches
            sql.append(f"AND c.collection IN ({', '.join('?' * len(collections))})")
            args += list(collections)
        if search:
            pattern = _like_pattern(search)
            sql.append(
                "AND (casefold(c.title) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM turns t WHERE t.conversation_id = c.id"
                " AND (casefold(t.question) LIKE ? ESCAPE '\\' OR casefold(t.answer_text) LIKE ? ESCAPE '\\')))"
            )
            args += [pattern] * 3
        sql.append("ORDER BY c.updated_at DESC, c.id DESC LIMIT ?")
        args.append(limit)
        with self._lock:
            return [Conversation(*row) for row in self._conn.execute(" ".join(sql), args).fetchall()]

    def turns(self, owner: str, conversation_id: int) -> list[Turn]:
        # The join on the owner makes another user's id read as an empty conversation.
        with self._lock:
            rows = self._conn.execute(
                "SELECT t.question, t.answer, t.asked_at FROM turns t JOIN conversations c ON c.id = t.conversation_id"
                " WHERE c.id = ? AND c.owner = ? ORDER BY t.id",
                (conversation_id, owner),
            ).fetchall()
        return [Turn(q, answer_from_record(json.loads(a)), asked) for q, a, asked in rows]

    def delete(self, owner: str, conversation_id: int) -> bool:
        with self._lock, self._conn:
            cur = self._conn.execute("DELETE FROM conversations WHERE id = ? AND owner = ?", (conversation_id, owner))
            return cur.rowcount > 0

    def delete_all(self, owner: str) -> int:
        with self._lock, self._conn:
            return self._conn.execute("DELETE FROM conversations WHERE owner = ?", (owner,)).rowcount
