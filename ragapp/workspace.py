"""One person's view of the library: what they may read, write and manage, checked on every call
from their identity (never from what a browser sends). The app, the HTTP API, the MCP server and
`ragapp ask --user` go through it, and nothing else: `Door` decides who is asking."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ragapp.accounts import LOCAL_USER, AccessDenied, AccountError, User, check_name
from ragapp.audit import DOCUMENT_DELETED, PROXY_REFUSED, Event
from ragapp.documents import Answer, Hit, Passage, QuestionError
from ragapp.history import Conversation, Turn
from ragapp.ingestion import FAILED, FileOutcome, IngestReport, Progress
from ragapp.keys import KeyRefused
from ragapp.pages import IMAGE_SUFFIXES, RenderedPage, render_image, render_pdf_page
from ragapp.pipeline import Pipeline
from ragapp.retriever import retrieve
from ragapp.settings import Settings
from ragapp.store import DocumentRecord, Failure, Filter, check_collection_name
from ragapp.text import content_words
from ragapp.uploads import UploadRejected, mark_pending, save_upload, size_refusal

SIGN_IN_MODES = ("none", "accounts", "proxy")


class Workspace:
    """Everything a signed-in person can do; each call first checks that they may."""

    def __init__(self, pipeline: Pipeline, user: User) -> None:
        self.pipeline = pipeline
        self.user = user
        self._accounts = pipeline.accounts

    @property
    def settings(self) -> Settings:
        return self.pipeline.settings

    # --- rights ---------------------------------------------------------------------------------

    def collections(self) -> list[str]:
        """The collections this person may read (the default collection first when among them)."""
        every = all_collections(self.pipeline)
        mine = [c for c in every if self._accounts.may_read(self.user, c)]
        default = self.pipeline.settings.collection
        return sorted(mine, key=lambda c: (c != default, c))

    def may_read(self, collection: str) -> bool:
        return self._accounts.may_read(self.user, collection)

    def may_write(self, collection: str) -> bool:
        return self._accounts.may_write(self.user, collection)

    def _require_read(self, collection: str) -> str:
        if not self.may_read(collection):
            raise AccessDenied(f"{self.user.name} may not read the collection '{collection}'")
        return collection

    def _require_write(self, collection: str) -> str:
        if not self.may_write(collection):
            raise AccessDenied(f"{self.user.name} may not add or delete documents in the collection '{collection}'")
        return collection

    def _require_admin(self) -> None:
        if not self.user.is_admin:
            raise AccessDenied(f"{self.user.name} is not an admin")

    # --- reading --------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        collection: str,
        on_token: Callable[[str], None] | None = None,
        only: Filter | None = None,
        follows: str | None = None,
        on_queue: Callable[[int], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> Answer:
        """Answer from one collection the person may read; retrieval sees no other."""
        self._require_read(collection)
        self._check_question(question)
        return self.pipeline.ask(
            question, collection, on_token=on_token, only=only, follows=follows, on_queue=on_queue, cancelled=cancelled
        )

    def search(self, query: str, collection: str, only: Filter | None = None, k: int | None = None) -> list[Hit]:
        """The passages closest to the query in one collection the person may read, best first."""
        store = self.pipeline.store(self._require_read(collection))
        self._check_question(query, "query")
        store.refresh()
        weights = store.word_weights(sorted(content_words(query)))
        settings = self.settings
        return retrieve(
            query, self.pipeline.embedder, store, k or settings.top_k, (), settings.retrieval,
            only=only, word_weights=weights, reranker=self.pipeline.reranker,
        )

    def _check_question(self, question: str, what: str = "question") -> None:
        # Each word of a question costs a lookup in the word index: the length is bounded.
        limit = self.settings.max_question_chars
        if not question.strip():
            raise QuestionError(f"the {what} is empty")
        if len(question) > limit:
            raise QuestionError(f"the {what} is {len(question)} characters long; at most {limit} are accepted")

    def passage(self, collection: str, doc_id: str, passage_id: str) -> Passage | None:
        store = self.pipeline.store(self._require_read(collection))
        return next((p for p in store.passages_of(doc_id) if p.id == passage_id), None)

    def page_image(self, collection: str, doc_id: str, page: int | None, passage_text: str = "") -> RenderedPage | None:
        """A PDF page, or an image file (a TIFF's frame `page`; page None: the single image), of a
        document the person may read, the passage highlighted; None when the document or its file
        is gone, or it is neither (or a PDF cited without a page)."""
        path = self.original(collection, doc_id)
        if path is None:
            return None
        # Scans and images are read again in the languages the ingest read them in, so that the boxes match.
        languages = self.settings.ocr_languages
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            return render_image(path, page, passage_text, ocr_languages=languages)
        if suffix != ".pdf" or page is None:
            return None
        return render_pdf_page(path, page, passage_text, ocr_languages=languages)

    def documents(self, collection: str) -> list[DocumentRecord]:
        return self.pipeline.store(self._require_read(collection)).documents()

    def failures(self, collection: str) -> list[Failure]:
        return self.pipeline.store(self._require_read(collection)).failures()

    def page_text(self, collection: str, doc_id: str, page: int | None) -> str:
        return self.pipeline.store(self._require_read(collection)).page_text(doc_id, page)

    def original(self, collection: str, doc_id: str) -> Path | None:
        """The document's file, for a citation to open or download; None when it is gone."""
        record = self.pipeline.store(self._require_read(collection)).record(doc_id)
        path = Path(record.path) if record else None
        return path if path and path.is_file() else None

    # --- writing --------------------------------------------------------------------------------

    def upload(
        self,
        files: Sequence[tuple[str, bytes | int]],
        collection: str,
        on_progress: Callable[[Progress], None] | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """Keep each (name, content) under a generated name in the collection's upload folder and
        ingest it under its own name. A file refused (size, type) gets its outcome; the rest go on.
        Instead of its content, a file too large to read may be given as its size in bytes."""
        self._require_write(collection)
        settings = self.pipeline.settings
        folder = settings.upload_dir / collection
        names: dict[str, str] = {}
        refused: list[FileOutcome] = []
        for name, data in files:
            try:
                if isinstance(data, int):
                    raise UploadRejected(size_refusal(data, settings.max_upload_mb) or "the file was not received")
                saved = save_upload(data, name, folder, settings.max_upload_mb)
                mark_pending(saved)
            except UploadRejected as exc:
                refused.append(FileOutcome("", _shown_name(name), FAILED, reason=str(exc)))
                continue
            names[str(saved.path.resolve())] = saved.name
        report = IngestReport()
        if names:
            paths = [Path(p) for p in names]
            report = self.pipeline.ingest(paths, collection, on_progress=on_progress, on_wait=on_wait, names=names)
        report.outcomes = refused + report.outcomes
        return report

    def delete_document(self, doc_id: str, collection: str) -> int:
        record = self.pipeline.store(self._require_write(collection)).record(doc_id)
        deleted = self.pipeline.delete_document(doc_id, collection)
        if deleted:
            shown = record.source if record else doc_id
            self._accounts.audit.record(self.user.name, DOCUMENT_DELETED, collection, shown)
        return deleted

    def record(self, collection: str, doc_id: str) -> DocumentRecord | None:
        return self.pipeline.store(self._require_read(collection)).record(doc_id)

    def still_readable(self, collection: str, doc_id: str) -> bool:
        """Whether a document cited earlier (an open conversation, the history) may be shown now:
        it is still stored and the person may still read its collection."""
        return self.may_read(collection) and self.pipeline.store(collection).record(doc_id) is not None

    # --- history: each person's own -------------------------------------------------------------

    def conversations(self, search: str = "") -> list[Conversation]:
        """This person's conversations in collections they may still read, newest first."""
        return self.pipeline.history.conversations(self.user.name, search, collections=self.collections())

    def turns(self, conversation_id: int) -> list[Turn]:
        turns = self.pipeline.history.turns(self.user.name, conversation_id)
        return turns if any(c.id == conversation_id for c in self.conversations()) else []

    def remember(self, conversation_id: int | None, collection: str, question: str, answer: Answer) -> int:
        """Add a question and its answer to a conversation (a new one when None); its id."""
        history = self.pipeline.history
        if conversation_id is None:
            conversation_id = history.start(self.user.name, collection, question)
        history.add_turn(self.user.name, conversation_id, question, answer)
        return conversation_id

    def forget(self, conversation_id: int) -> bool:
        return self.pipeline.history.delete(self.user.name, conversation_id)

    # --- administration: admins only ------------------------------------------------------------

    def users(self) -> list[User]:
        self._require_admin()
        return self._accounts.users()

    def vectors_status(self) -> str:
        """Where the vectors are kept and whether the store answers (admins: the Settings page)."""
        self._require_admin()
        return self.pipeline.store().chroma.status()

    def known_collections(self) -> list[str]:
        """Every collection anyone could be given (admins only: it names collections others hold)."""
        self._require_admin()
        return all_collections(self.pipeline)

    def grants(self) -> list[tuple[str, str, str]]:
        self._require_admin()
        return self._accounts.grants()

    def add_user(self, name: str, role: str, password: str | None) -> User:
        self._require_admin()
        return self._accounts.add(name, role, password, by=self.user.name)

    def remove_user(self, name: str) -> None:
        self._require_admin()
        if name == self.user.name:
            raise AccountError("you cannot remove your own account")
        self._accounts.remove(name, by=self.user.name)
        self.pipeline.history.delete_all(name)

    def set_role(self, name: str, role: str) -> User:
        self._require_admin()
        return self._accounts.set_role(name, role, by=self.user.name)

    def set_password(self, name: str, password: str) -> None:
        self._require_admin()
        self._accounts.set_password(name, password, by=self.user.name)

    def grant(self, name: str, collection: str, access: str) -> None:
        self._require_admin()
        self._accounts.grant(name, check_collection_name(collection), access, by=self.user.name)

    def revoke(self, name: str, collection: str) -> bool:
        self._require_admin()
        return self._accounts.revoke(name, collection, by=self.user.name)

    def audit_log(self, limit: int = 200, person: str | None = None) -> list[Event]:
        """Sign-ins, refused sign-ins and administrators' changes, newest first."""
        self._require_admin()
        return self._accounts.audit.events(limit, person)


def all_collections(pipeline: Pipeline) -> list[str]:
    """Every collection anyone could be given: those holding files, those named in grants, the default."""
    names = set(pipeline.collections()) | pipeline.accounts.granted_collections() | {pipeline.settings.collection}
    return sorted(names)


def workspace_for(pipeline: Pipeline, name: str | None) -> Workspace:
    """The workspace of a named account (for scripts: `ragapp ask --user`), or of the local
    user (the machine's owner) when no name is given."""
    if name is None:
        return Workspace(pipeline, LOCAL_USER)
    return Workspace(pipeline, pipeline.accounts.require(check_name(name)))


class Door:
    """How people get in, whichever front end they use (the app, the API, the MCP server): the
    sign-in mode, passwords, the sign-on proxy's header and API keys each give a Workspace.
    Who is asking is decided here, never by a front end of its own."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    @property
    def mode(self) -> str:
        return self._pipeline.settings.sign_in

    @property
    def proxy_header(self) -> str:
        return self._pipeline.settings.proxy_header

    def local(self) -> Workspace:
        """The machine's owner, who may do everything: sign-in off only."""
        if self.mode != "none":
            raise AccessDenied("sign-in is on: nobody is let in without signing in")
        return Workspace(self._pipeline, LOCAL_USER)

    def account(self, name: str | None) -> Workspace | None:
        """The workspace of an account already signed in (a session remembers the name); None
        once the account is gone, so a removed person is signed out at their next step."""
        user = self._pipeline.accounts.get(name) if name else None
        return Workspace(self._pipeline, user) if user else None

    def password(self, name: str, password: str, address: str = "") -> Workspace | None:
        """Signed in with a password; None when it is wrong (AccountError: too many tries).
        address: the client's, counted by the sign-in limits and kept in the audit log."""
        user = self._pipeline.accounts.authenticate(name, password, address)
        return Workspace(self._pipeline, user) if user else None

    def needs_first_account(self) -> bool:
        return self._pipeline.accounts.is_empty()

    def first_account(self, name: str, password: str) -> Workspace:
        """The first account, an admin; refused once any account exists."""
        user = self._pipeline.accounts.add(name, "admin", password, only_if_first=True)
        return Workspace(self._pipeline, user)

    def proxy(self, headers: Mapping[str, str], address: str) -> Workspace | None:
        """The person the sign-on proxy names; None when it names nobody with an account here.
        AccessDenied when the request cannot have come from the proxy (see proxy_user)."""
        user = proxy_user(self._pipeline, headers, address)
        return Workspace(self._pipeline, user) if user else None

    def key(self, secret: str) -> Workspace:
        return workspace_for_key(self._pipeline, secret)


def workspace_for_key(pipeline: Pipeline, key: str) -> Workspace:
    """The workspace of the person an API key acts as; KeyRefused when the key cannot be used
    (unknown, revoked, expired, or its account is gone). The person's rights are read afresh
    on every call: a revoked grant ends the key's access to that collection at once."""
    name = pipeline.keys.user_of(key)
    if name == LOCAL_USER.name and pipeline.settings.sign_in == "none":
        return Workspace(pipeline, LOCAL_USER)
    user = pipeline.accounts.get(name)
    if user is None:
        raise KeyRefused(f"the API key's account {name!r} no longer exists")
    return Workspace(pipeline, user)


def key_owner(pipeline: Pipeline, name: str) -> str:
    """Check that an API key can be made for this name: an account, or (sign-in none) the
    machine's owner, 'local'."""
    if name == LOCAL_USER.name and pipeline.settings.sign_in == "none":
        return name
    pipeline.accounts.require(check_name(name))
    return name


def proxy_user(pipeline: Pipeline, headers: Mapping[str, str], address: str) -> User | None:
    """The account the team's sign-on proxy names in its header, honoured only in proxy mode and
    only when the request came from the proxy: from one of its addresses (proxy_addresses) and
    with its shared secret header (proxy_secret), whichever of the two are set. The header must
    hold exactly one name: a proxy that appends to a header a client sent, or a client that sent
    it twice, is refused rather than guessed at. None when it names nobody with an account here;
    AccessDenied (with the reason, also kept in the audit log) when the request is refused."""
    settings = pipeline.settings
    if settings.sign_in != "proxy":
        return None
    refusal = _proxy_refusal(settings, headers, address)
    if refusal is None:
        values = _header_values(headers, settings.proxy_header)
        if len(values) > 1 or any("," in value for value in values):
            refusal = f"the header {settings.proxy_header} holds more than one name"
    if refusal is not None:
        pipeline.accounts.audit.record("", PROXY_REFUSED, "", refusal, address)
        raise AccessDenied(f"sign-in through the proxy refused: {refusal}")
    name = values[0].strip() if values else ""
    return pipeline.accounts.get(name) if name else None


def _proxy_refusal(settings: Settings, headers: Mapping[str, str], address: str) -> str | None:
    import hmac
    import ipaddress

    networks = settings.proxy_networks()
    if networks:
        try:
            client = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return f"the client address {address!r} is not an IP address"
        if not any(client in network for network in networks):
            return f"the request came from {address}, not from the proxy's addresses"
    if settings.proxy_secret:
        sent = _header_values(headers, settings.proxy_secret_header)
        if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), settings.proxy_secret.encode()):
            return f"the header {settings.proxy_secret_header} does not hold the proxy's secret"
    return None


def _header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value sent for a header (Streamlit's headers and Starlette's keep repeated ones)."""
    get_all = getattr(headers, "get_all", None) or getattr(headers, "getlist", None)
    if get_all is not None:
        return list(get_all(name))
    return [value for key, value in headers.items() if key.lower() == name.lower()]


def _shown_name(name: str) -> str:
    from ragapp.uploads import display_name

    return display_name(name)
