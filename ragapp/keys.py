"""API keys: each acts as one person, with that person's rights. A key is shown once, when it is
made; only its SHA-256 hash is kept, in the app's SQLite file beside the accounts. (A key is 32
random bytes: a fast hash is enough, unlike a password that a person chose.)"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ragapp import audit
from ragapp.accounts import AccountError
from ragapp.audit import COMMAND_LINE, AuditLog

PREFIX = "rag"
DAY_S = 86400.0


class KeyRefused(PermissionError):
    """The key given cannot be used; the message says why (unknown, revoked, expired)."""


@dataclass(frozen=True)
class KeyInfo:
    id: str  # the public part of the key, shown in lists ("rag_3f9c2a1b")
    user: str
    label: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    def state(self, now: float | None = None) -> str:
        now = time.time() if now is None else now
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


class ApiKeys:
    """The keys of every person; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.audit = AuditLog(path)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS api_keys (
                    id TEXT PRIMARY KEY, user TEXT NOT NULL, label TEXT NOT NULL, hash TEXT NOT NULL,
                    created_at REAL NOT NULL, expires_at REAL, revoked_at REAL, last_used_at REAL)"""
            )

    def create(
        self, user: str, expires_days: float | None = None, label: str = "", by: str = COMMAND_LINE
    ) -> tuple[KeyInfo, str]:
        """A new key for the user: its record, and the key itself (the only time it is seen)."""
        if expires_days is not None and expires_days <= 0:
            raise AccountError("a key's expiry must be a positive number of days")
        key_id = f"{PREFIX}_{secrets.token_hex(4)}"
        secret = f"{key_id}_{secrets.token_urlsafe(32)}"
        now = time.time()
        expires = now + expires_days * DAY_S if expires_days is not None else None
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (id, user, label, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, user, label, _digest(secret), now, expires),
            )
        self.audit.record(by, audit.KEY_CREATED, user, key_id)
        return KeyInfo(key_id, user, label, now, expires, None, None), secret

    def keys(self, user: str | None = None) -> list[KeyInfo]:
        query = "SELECT id, user, label, created_at, expires_at, revoked_at, last_used_at FROM api_keys"
        with self._lock:
            if user is None:
                rows = self._db.execute(query + " ORDER BY user, created_at").fetchall()
            else:
                rows = self._db.execute(query + " WHERE user = ? ORDER BY created_at", (user,)).fetchall()
        return [KeyInfo(*row) for row in rows]

    def any_active(self) -> bool:
        return any(k.state() == "active" for k in self.keys())

    def revoke(self, key_id: str, by: str = COMMAND_LINE) -> bool:
        """True when an active key was revoked now."""
        with self._lock:
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
            )
            owner = self._db.execute("SELECT user FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        if cursor.rowcount > 0:
            self.audit.record(by, audit.KEY_REVOKED, owner[0] if owner else "", key_id)
        return cursor.rowcount > 0

    def revoke_all(self, user: str) -> int:
        with self._lock:
            cursor = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE user = ? AND revoked_at IS NULL", (time.time(), user)
            )
        return cursor.rowcount

    def user_of(self, secret: str) -> str:
        """The name of the person the key acts as; KeyRefused says why it cannot be used."""
        # "rag_" + 8 hex digits is the id; the random part after it may hold "_" too.
        key_id = "_".join(secret.split("_")[:2]) if secret.count("_") >= 2 else ""
        with self._lock:
            row = self._db.execute(
                "SELECT user, hash, expires_at, revoked_at FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
        # The hash is compared in constant time, so the answer's timing does not tell how close a guess was.
        if row is None or not hmac.compare_digest(row[1], _digest(secret)):
            raise KeyRefused("the API key is not valid")
        user, _, expires_at, revoked_at = row
        now = time.time()
        if revoked_at is not None:
            raise KeyRefused("the API key has been revoked")
        if expires_at is not None and now >= expires_at:
            raise KeyRefused("the API key has expired")
        with self._lock:
            self._db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, key_id))
        return user


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
