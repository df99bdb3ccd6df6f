"""Who may do what: accounts (bcrypt-hashed passwords), roles and per-collection grants, kept in
the app's SQLite file beside the conversation history."""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ragapp import audit
from ragapp.audit import COMMAND_LINE, AuditLog

ADMIN, EDITOR, READER = "admin", "editor", "reader"
ROLES = (ADMIN, EDITOR, READER)
READ, WRITE = "read", "write"
ACCESS = (READ, WRITE)

# Names appear in the CLI, in grants and as history owners: plain, short and unambiguous.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
# Guessing passwords in the sign-in form. Wrong passwords are counted in the app's SQLite file
# (so a restart does not forget them, and every app process sees the same counts), three ways:
# - a name tried from one address: MAX_FAILURES in LOCKOUT_S, then that pair waits. Someone
#   guessing at a known admin's password from their own machine cannot lock the admin out.
# - one address, whatever the names: spraying one password over every name is limited too.
# - one name, from every address together: a guess spread over many machines is limited too
#   (at a higher count, which is what it would take to keep that person out).
MAX_FAILURES, LOCKOUT_S = 5, 60.0
MAX_ADDRESS_FAILURES, ADDRESS_LOCKOUT_S = 20, 600.0
MAX_NAME_FAILURES, NAME_LOCKOUT_S = 50, 600.0


class AccountError(ValueError):
    """A request about accounts that cannot be carried out; the message says why."""


class AccessDenied(PermissionError):
    """The signed-in person may not do this; the message says what they tried."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    has_password: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


# The one person of an app without sign-in (RAGAPP_SIGN_IN=none): the machine's owner.
LOCAL_USER = User("local", ADMIN, has_password=False)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise AccountError(
            f"invalid user name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
        )
    return name


class Accounts:
    """Users, their roles and their grants; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.audit = AuditLog(path)
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS users (
                    name TEXT PRIMARY KEY, role TEXT NOT NULL, password_hash BLOB, created_at REAL NOT NULL)"""
            )
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS grants (
                    user TEXT NOT NULL, collection TEXT NOT NULL, access TEXT NOT NULL,
                    PRIMARY KEY (user, collection))"""
            )
            # One row per sign-in attempt that has not (yet) succeeded; see authenticate().
            self._db.execute(
                """CREATE TABLE IF NOT EXISTS sign_in_failures (
                    id INTEGER PRIMARY KEY, name TEXT NOT NULL, address TEXT NOT NULL, at REAL NOT NULL)"""
            )

    # --- accounts -------------------------------------------------------------------------------

    def add(
        self, name: str, role: str, password: str | None = None, only_if_first: bool = False, by: str = COMMAND_LINE
    ) -> User:
        """Create an account. The very first account is always an admin, whatever role was asked:
        someone has to be able to manage the others. only_if_first: refuse when any account
        exists (the app's "first account" form, which two people might send at once)."""
        check_name(name)
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: use {', '.join(ROLES)}")
        hashed = _hash(password) if password is not None else None
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                    raise AccountError(f"user {name!r} already exists")
                first = self._db.execute("SELECT count(*) FROM users").fetchone()[0] == 0
                if only_if_first and not first:
                    raise AccountError("an account was created meanwhile: sign in, or ask its owner for one")
                if first:
                    role = ADMIN
                self._db.execute(
                    "INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, hashed, time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self.audit.record(name if only_if_first else by, audit.ACCOUNT_ADDED, name, role)
        return User(name, role, hashed is not None)

    def remove(self, name: str, by: str = COMMAND_LINE) -> None:
        """Delete an account and its grants. The last admin stays: nobody could manage the rest."""
        user = self.require(name)
        with self._lock:
            if user.is_admin and self._admins() == 1:
                raise AccountError(f"{name!r} is the last admin: make someone else admin first")
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM grants WHERE user = ?", (name,))
            self._db.execute("DELETE FROM users WHERE name = ?", (name,))
            self._db.execute("COMMIT")
        self.audit.record(by, audit.ACCOUNT_REMOVED, name)

    def set_role(self, name: str, role: str, by: str = COMMAND_LINE) -> User:
        user = self.require(name)
        if role not in ROLES:
            raise AccountError(f"unknown role {role!r}: use {', '.join(ROLES)}")
        with self._lock:
            if user.is_admin and role != ADMIN and self._admins() == 1:
                raise AccountError(f"{name!r} is the last admin: make someone else admin first")
            self._db.execute("UPDATE users SET role = ? WHERE name = ?", (role, name))
        self.audit.record(by, audit.ROLE_CHANGED, name, f"{user.role} -> {role}")
        return User(name, role, user.has_password)

    def set_password(self, name: str, password: str, by: str = COMMAND_LINE) -> None:
        self.require(name)
        hashed = _hash(password)
        with self._lock:
            self._db.execute("UPDATE users SET password_hash = ? WHERE name = ?", (hashed, name))
        self.audit.record(by, audit.PASSWORD_CHANGED, name)

    def get(self, name: str) -> User | None:
        with self._lock:
            row = self._db.execute("SELECT name, role, password_hash IS NOT NULL FROM users WHERE name = ?", (name,)).fetchone()
        return User(row[0], row[1], bool(row[2])) if row else None

    def require(self, name: str) -> User:
        user = self.get(name)
        if user is None:
            raise AccountError(f"no such user: {name!r}")
        return user

    def users(self) -> list[User]:
        with self._lock:
            rows = self._db.execute("SELECT name, role, password_hash IS NOT NULL FROM users ORDER BY name").fetchall()
        return [User(name, role, bool(has)) for name, role, has in rows]

    def is_empty(self) -> bool:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM users").fetchone()[0] == 0

    def authenticate(self, name: str, password: str, address: str = "") -> User | None:
        """The user, when the password is theirs; None otherwise (unknown name included, and the
        same bcrypt work is done for it, so timing does not tell which names exist). Too many
        wrong passwords (see MAX_FAILURES) and the attempt is refused before the password is
        looked at, even when it is right (AccountError says how long to wait).

        Each attempt is first written down as a failure, in the same transaction that counts
        the earlier ones, and struck out only once the password proved right: attempts sent in
        parallel (threads, sessions, app processes) each see the others, so no burst of guesses
        gets past the limit while bcrypt runs."""
        address = address or "unknown"
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM sign_in_failures WHERE at < ?", (now - max(NAME_LOCKOUT_S, ADDRESS_LOCKOUT_S),))
                refusal = self._refusal(name, address, now)
                attempt = None
                if refusal is None:
                    attempt = self._db.execute(
                        "INSERT INTO sign_in_failures (name, address, at) VALUES (?, ?, ?)", (name, address, now)
                    ).lastrowid
                    row = self._db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if refusal is not None:
            self.audit.record(name, audit.SIGN_IN_REFUSED, name, refusal, address)
            raise AccountError(refusal)
        import bcrypt

        hashed = row[0] if row and row[0] else _dummy_hash()
        matches = bcrypt.checkpw(password.encode("utf-8")[:72], hashed)
        if row and row[0] and matches:
            with self._lock:
                # Right: this attempt and this address's earlier misses of this name no longer count.
                self._db.execute(
                    "DELETE FROM sign_in_failures WHERE id = ? OR (name = ? AND address = ?)", (attempt, name, address)
                )
            self.audit.record(name, audit.SIGN_IN, name, "", address)
            return self.get(name)
        self.audit.record(name, audit.SIGN_IN_FAILED, name, "wrong password" if row else "no such account", address)
        return None

    def _refusal(self, name: str, address: str, now: float) -> str | None:
        """Why this attempt must wait, or None; inside the counting transaction."""
        limits = (
            ("name = ? AND address = ?", (name, address), MAX_FAILURES, LOCKOUT_S,
             f"too many wrong passwords for {name!r} from this address"),
            ("address = ?", (address,), MAX_ADDRESS_FAILURES, ADDRESS_LOCKOUT_S, "too many wrong passwords from this address"),
            ("name = ?", (name,), MAX_NAME_FAILURES, NAME_LOCKOUT_S, f"too many wrong passwords for {name!r}"),
        )
        for where, params, most, window, reason in limits:
            times = [at for (at,) in self._db.execute(
                f"SELECT at FROM sign_in_failures WHERE {where} AND at >= ? ORDER BY at", params + (now - window,)
            )]
            if len(times) >= most:
                # The wait ends when enough of the counted failures have aged out of the window.
                wait = times[len(times) - most] + window - now
                return f"{reason}: try again in {max(wait, 1):.0f} s"
        return None

    def _admins(self) -> int:
        return self._db.execute("SELECT count(*) FROM users WHERE role = ?", (ADMIN,)).fetchone()[0]

    # --- grants ---------------------------------------------------------------------------------

    def grant(self, name: str, collection: str, access: str, by: str = COMMAND_LINE) -> None:
        user = self.require(name)
        if access not in ACCESS:
            raise AccountError(f"unknown access {access!r}: use read or write")
        if access == WRITE and user.role == READER:
            raise AccountError(f"{name!r} is a reader, who cannot write: make them an editor first")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO grants (user, collection, access) VALUES (?, ?, ?)", (name, collection, access)
            )
        self.audit.record(by, audit.ACCESS_GRANTED, name, f"{collection} ({access})")

    def revoke(self, name: str, collection: str, by: str = COMMAND_LINE) -> bool:
        self.require(name)
        with self._lock:
            revoked = self._db.execute("DELETE FROM grants WHERE user = ? AND collection = ?", (name, collection)).rowcount > 0
        if revoked:
            self.audit.record(by, audit.ACCESS_REVOKED, name, collection)
        return revoked

    def grants(self, name: str | None = None) -> list[tuple[str, str, str]]:
        """(user, collection, access) of one user, or of everyone."""
        with self._lock:
            if name is None:
                return self._db.execute("SELECT user, collection, access FROM grants ORDER BY 1, 2").fetchall()
            return self._db.execute("SELECT user, collection, access FROM grants WHERE user = ? ORDER BY 2", (name,)).fetchall()

    def granted_collections(self) -> set[str]:
        with self._lock:
            return {row[0] for row in self._db.execute("SELECT DISTINCT collection FROM grants")}

    # --- what a user may do ---------------------------------------------------------------------

    def may_read(self, user: User, collection: str) -> bool:
        return user.is_admin or self._access(user, collection) in (READ, WRITE)

    def may_write(self, user: User, collection: str) -> bool:
        """Admins write everywhere; editors where they hold a write grant; readers nowhere."""
        if user.is_admin:
            return True
        return user.role == EDITOR and self._access(user, collection) == WRITE

    def _access(self, user: User, collection: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT access FROM grants WHERE user = ? AND collection = ?", (user.name, collection)
            ).fetchone()
        return row[0] if row else None


def _hash(password: str) -> bytes:
    import bcrypt

    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    # bcrypt reads at most 72 bytes; longer passwords are cut the same way when checked.
    return bcrypt.hashpw(password.encode("utf-8")[:72], bcrypt.gensalt())


@functools.cache
def _dummy_hash() -> bytes:
    """Checked against when a name is unknown, so a wrong name costs the time a wrong password does."""
    import bcrypt

    return bcrypt.hashpw(b"no account has this password", bcrypt.gensalt())
