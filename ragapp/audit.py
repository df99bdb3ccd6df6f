"""The audit log: sign-ins, failed and refused sign-ins, and what administrators changed, kept in
the app's SQLite file beside the accounts. `ragapp audit` and the People page read it."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# What is recorded (the action column).
SIGN_IN = "sign-in"
SIGN_IN_FAILED = "sign-in failed"
SIGN_IN_REFUSED = "sign-in refused"
PROXY_REFUSED = "proxy header refused"
ACCOUNT_ADDED = "account added"
ACCOUNT_REMOVED = "account removed"
ROLE_CHANGED = "role changed"
PASSWORD_CHANGED = "password changed"
ACCESS_GRANTED = "access granted"
ACCESS_REVOKED = "access revoked"
KEY_CREATED = "API key created"
KEY_REVOKED = "API key revoked"
DOCUMENT_DELETED = "document deleted"

# Who acted when nobody signed in did: a command run on the server itself.
COMMAND_LINE = "(command line)"


@dataclass(frozen=True)
class Event:
    at: float
    actor: str  # who did it (the name tried, for sign-ins)
    action: str
    target: str = ""  # the account, collection or key it was done to
    detail: str = ""
    address: str = ""  # the client's address, where known

    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))


class AuditLog:
    """Append-only events; safe to share between threads and processes (SQLite, WAL)."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS audit (
                    id INTEGER PRIMARY KEY, at REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                    target TEXT NOT NULL, detail TEXT NOT NULL, address TEXT NOT NULL)"""
            )

    def record(self, actor: str, action: str, target: str = "", detail: str = "", address: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, actor, action, target, detail, address) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), actor, action, target, detail, address or ""),
            )

    def events(self, limit: int = 200, person: str | None = None) -> list[Event]:
        """The newest events first; person: only those done by or to that name."""
        query = "SELECT at, actor, action, target, detail, address FROM audit"
        params: tuple = ()
        if person:
            query += " WHERE actor = ? OR target = ?"
            params = (person, person)
        query += " ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, params + (limit,)).fetchall()
        return [Event(*row) for row in rows]
