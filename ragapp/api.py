"""The HTTP API (`ragapp serve`): the same checked, cited answers as the app, for scripts and for
any OpenAI client.

- `POST /v1/ask`: one question in, the JSON of `ragapp ask --json` out (server-sent events with
  `"stream": true`: each checked sentence as it is shown, then the whole answer).
- `POST /v1/chat/completions`: OpenAI's chat API; `model` names the collection, the last user
  message is the question and the one before it makes a follow-up. The content is the checked
  answer with its [n] markers, and a top-level `citations` list comes once: in the response, or in
  the final chunk of a stream.
- `GET /v1/models` (the collections the caller may read), `GET|POST /v1/documents`,
  `DELETE /v1/documents/{id}`, `POST /v1/search`, the cited passage in its place, `GET /healthz`.

Every route acts as one person, through `Workspace` (ragapp.workspace.Door decides who): an API key
(`Authorization: Bearer KEY`), or, with sign-in off, anyone on this machine's loopback. Errors are
OpenAI-style objects, `{"error": {"message", "type", "code"}}`, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import ipaddress
import json
import logging
import re
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, AsyncIterator

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragapp import __version__
from ragapp.accounts import AccessDenied, AccountError
from ragapp.documents import Answer, Citation, Hit, QuestionError
from ragapp.generator import Cancelled, GrammarShape
from ragapp.ingestion import FAILED
from ragapp.keys import KeyRefused
from ragapp.pages import PageError, text_context
from ragapp.pipeline import Pipeline
from ragapp.store import Filter, StoreError
from ragapp.uploads import TOO_LARGE
from ragapp.workspace import Door, Workspace

log = logging.getLogger("ragapp.api")

KEY_HINT = "send 'Authorization: Bearer KEY' with a key made by `ragapp keys create NAME`"


class ApiError(Exception):
    """A request that cannot be served; becomes an OpenAI-style error object with this status."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


# --- request bodies: fields this API does not use are accepted and ignored (OpenAI clients send many) ----

Filters = list[str] | dict[str, list[str] | str] | None


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    question: str = Field(description="The question.")
    collection: str | None = Field(None, description="Collection to answer from (default: the collection setting).")
    filters: Filters = Field(
        None, description='Only some documents: ["doc=handbook/expenses.md", "type=pdf"] or {"folder": ["handbook"]}.'
    )
    follows: str | None = Field(None, description='The previous answer\'s "query", for a follow-up question.')
    stream: bool = Field(False, description="Send server-sent events: each checked sentence, then the answer.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str = Field(description="The collection to answer from (GET /v1/models lists yours).")
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    filters: Filters = None


class ModelRequest(BaseModel):
    """A request of the model route: what ragapp's own model-server client sends."""

    model_config = ConfigDict(extra="ignore")
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int = Field(80, ge=1, le=4096)
    grammar: str | None = None
    stream: bool = True


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    query: str
    collection: str | None = None
    filters: Filters = None
    top_k: int | None = Field(None, ge=1, le=50)


# --- the app ---------------------------------------------------------------------------------------


def create_app(pipeline: Pipeline, route_token: str | None = None, on_stop=None) -> FastAPI:
    """The API over the pipeline. route_token: what the machine's other processes send to use the
    model route (ragapp.lending); API keys and the loopback owner may use it too. on_stop is called
    as the server shuts down (uvicorn ends the process by the signal it got, after that)."""
    door = Door(pipeline)
    settings = pipeline.settings

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()

    app = FastAPI(
        title="ragapp", version=__version__, lifespan=lifespan,
        description="Checked, cited answers from your own documents. Authenticate with `Authorization: Bearer KEY`.",
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_error(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = "no such route" if exc.status_code == 404 else str(exc.detail)
        return ApiError(exc.status_code, message, code=code).response()

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _library_error(exc).response()

    def workspace_of(request: Request) -> Workspace:
        """Who is asking: the key's person, or the machine's owner on loopback with sign-in off."""
        header = request.headers.get("authorization", "").strip()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        loopback_owner = door.mode == "none" and _is_loopback(request.client.host if request.client else "")
        if header and scheme.lower() == "bearer" and token.startswith("rag_"):
            try:
                return door.key(token)
            except KeyRefused as exc:
                raise ApiError(401, f"{exc}: {KEY_HINT}", "authentication_error", "invalid_api_key") from None
        if loopback_owner:
            # Sign-in is off and the caller is on this machine: whatever placeholder key an OpenAI
            # client insists on sending is not needed.
            return door.local()
        if header:
            raise ApiError(401, f"the API key is not valid: {KEY_HINT}", "authentication_error", "invalid_api_key")
        raise ApiError(401, f"an API key is required: {KEY_HINT}", "authentication_error", "missing_api_key")

    def model_caller(request: Request) -> None:
        token = request.headers.get("authorization", "").partition(" ")[2].strip()
        if route_token and token and secrets.compare_digest(token, route_token):
            return
        workspace_of(request)

    def readable(workspace: Workspace, collection: str | None, param: str = "collection") -> str:
        """The collection, when the person may read it; unknown and unreadable look the same."""
        name = collection or settings.collection
        if name not in workspace.collections():
            raise ApiError(404, f"there is no collection '{name}' that you may read", code="model_not_found", param=param)
        return name

    @app.get("/healthz", summary="Liveness, and how many questions hold or wait for the model")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "version": __version__, "model_queue": len(pipeline.model_queue)}

    @app.get("/v1/models", summary="The collections you may read, as OpenAI models")
    def models(request: Request) -> dict[str, Any]:
        workspace = workspace_of(request)
        return {
            "object": "list",
            "data": [{"id": c, "object": "model", "created": 0, "owned_by": "ragapp"} for c in workspace.collections()],
        }

    @app.post("/v1/ask", summary="Answer a question, with citations")
    async def ask(body: AskRequest, request: Request) -> Response:
        workspace = workspace_of(request)
        collection = readable(workspace, body.collection)
        only = _filter(body.filters)
        events = _answer_events(workspace, body.question, collection, only, body.follows)
        base = str(request.base_url).rstrip("/")
        if not body.stream:
            answer = await _final(events)
            return JSONResponse(_answer_json(answer, collection, base))
        first = await _first_event(events)  # a refusal before anything is shown is a proper status

        async def sse() -> AsyncIterator[str]:
            async for kind, value in _chain(first, events):
                if kind == "piece":
                    yield _sse({"text": value}, "sentence")
                elif kind == "answer":
                    yield _sse(_answer_json(value, collection, base), "answer")
                else:
                    yield _sse(_library_error(value).body(), "error")

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/chat/completions", summary="OpenAI-compatible chat: the checked answer, with citations")
    async def chat(body: ChatRequest, request: Request) -> Response:
        workspace = workspace_of(request)
        collection = readable(workspace, body.model, param="model")
        question, follows = _question_of(body.messages)
        only = _filter(body.filters)
        events = _answer_events(workspace, question, collection, only, follows)
        base = str(request.base_url).rstrip("/")
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        prompt_tokens = sum(_tokens(_text_of(m)) for m in body.messages)
        if not body.stream:
            answer = await _final(events)
            content = answer.text + _lead(answer)
            completion = _tokens(content)
            return JSONResponse({
                "id": completion_id, "object": "chat.completion", "created": created, "model": collection,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                          "total_tokens": prompt_tokens + completion},
                "citations": _citations(answer.citations, collection, base),
                "ragapp": _answer_json(answer, collection, base),
            })
        first = await _first_event(events)

        def chunk(delta: dict, finish: str | None = None, **extra: Any) -> str:
            return _sse({
                "id": completion_id, "object": "chat.completion.chunk", "created": created, "model": collection,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}], **extra,
            })

        async def sse() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            streamed = False
            async for kind, value in _chain(first, events):
                if kind == "piece":
                    streamed = True
                    yield chunk({"content": value})
                elif kind == "answer":
                    if not streamed:  # a declined answer is not written piece by piece
                        yield chunk({"content": value.text})
                    if value.lead:
                        yield chunk({"content": _lead(value)})
                    completion = _tokens(value.text + _lead(value))
                    yield chunk(
                        {}, "stop",
                        citations=_citations(value.citations, collection, base),
                        usage={"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                               "total_tokens": prompt_tokens + completion},
                    )
                else:
                    yield _sse(_library_error(value).body())
                    return
            yield "data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/v1/search", summary="The passages closest to a query, with their scores (no answer)")
    def search(body: SearchRequest, request: Request) -> dict[str, Any]:
        workspace = workspace_of(request)
        collection = readable(workspace, body.collection)
        hits = workspace.search(body.query, collection, only=_filter(body.filters), k=body.top_k)
        base = str(request.base_url).rstrip("/")
        return {"object": "list", "collection": collection, "data": [_hit_json(h, collection, base) for h in hits]}

    @app.get("/v1/documents", summary="The documents of a collection")
    def documents(request: Request, collection: str | None = Query(None)) -> dict[str, Any]:
        workspace = workspace_of(request)
        name = readable(workspace, collection)
        return {
            "object": "list", "collection": name,
            "data": [
                {"id": r.doc_id, "source": r.source, "title": r.title, "kind": r.kind, "pages": r.pages,
                 "passages": r.passages, "ingested_at": r.ingested_at}
                for r in workspace.documents(name)
            ],
            "failed": [{"id": f.doc_id, "source": f.source, "reason": f.reason} for f in workspace.failures(name)],
        }

    @app.post("/v1/documents", summary="Upload files (multipart, field 'files'); each file's outcome in words")
    def upload(request: Request, files: list[UploadFile] = File(...), collection: str | None = Form(None)) -> JSONResponse:
        workspace = workspace_of(request)
        name = readable(workspace, collection)
        if not workspace.may_write(name):
            raise ApiError(403, f"{workspace.user.name} may not add documents to the collection '{name}'",
                           "permission_error", "write_denied")
        limit = int(settings.max_upload_mb * 1_000_000)
        received: list[tuple[str, bytes | int]] = []
        for item in files:
            # A file over the limit is not read into memory: its size is enough to refuse it.
            filename = item.filename or "upload"
            if item.size is not None and item.size > limit:
                received.append((filename, item.size))
                continue
            data = item.file.read(limit + 1)
            received.append((filename, data if len(data) <= limit else len(data)))
        report = workspace.upload(received, name)
        outcomes = [
            {"file": o.source, "id": o.path and _doc_id(o.path), "status": o.status, "passages": o.passages,
             "reason": o.reason, "outcome": o.describe()}
            for o in report.outcomes
        ]
        body = {"collection": name, "summary": report.summary(), "files": outcomes}
        if report.outcomes and all(o.status == FAILED for o in report.outcomes):
            # Nothing was stored: the status says why (too large; a type it does not read; unreadable).
            if any(o.reason.startswith(TOO_LARGE) for o in report.outcomes):
                status = 413
            elif all(not o.path and o.reason != "empty file" for o in report.outcomes):
                status = 415
            else:
                status = 422
            error = ApiError(status, "; ".join(f"{o.source}: {o.reason}" for o in report.outcomes),
                             code="upload_refused")
            return JSONResponse({**error.body(), **body}, status_code=status)
        return JSONResponse(body)

    @app.delete("/v1/documents/{doc_id}", summary="Delete a document and its passages")
    def delete(doc_id: str, request: Request, collection: str | None = Query(None)) -> dict[str, Any]:
        workspace = workspace_of(request)
        name = readable(workspace, collection)
        if not workspace.may_write(name):
            raise ApiError(403, f"{workspace.user.name} may not delete documents in the collection '{name}'",
                           "permission_error", "write_denied")
        record = workspace.record(name, doc_id)
        if record is None:
            raise ApiError(404, f"no document with id '{doc_id}' in the collection '{name}'", code="document_not_found")
        removed = workspace.delete_document(doc_id, name)
        return {"id": doc_id, "source": record.source, "deleted": True, "passages": removed}

    @app.get("/v1/documents/{doc_id}/passages/{passage_id}",
             summary="A cited passage in its place: the PDF page or image with it highlighted (PNG), or its text marked (HTML)")
    def passage_view(doc_id: str, passage_id: str, request: Request, collection: str | None = Query(None)) -> Response:
        workspace = workspace_of(request)
        name = readable(workspace, collection)
        passage = workspace.passage(name, doc_id, passage_id)
        if passage is None:
            raise ApiError(404, f"no passage '{passage_id}' of document '{doc_id}' in '{name}'", code="passage_not_found")
        try:  # a PDF page or an image file; None for the other kinds, shown as text
            image = workspace.page_image(name, doc_id, passage.page, passage.text)
        except PageError as exc:
            raise ApiError(422, str(exc), code="page_unreadable") from None
        if image is not None:
            return Response(image.png, media_type="image/png")
        page_text = workspace.page_text(name, doc_id, passage.page) or passage.text
        start, end = (passage.start, passage.end) if page_text != passage.text else (0, len(passage.text))
        before, cited, after = text_context(page_text, start, end)
        title = html.escape(passage.location())
        return HTMLResponse(
            f"<!doctype html><meta charset='utf-8'><title>{title}</title><h1>{title}</h1>"
            f"<div style='white-space: pre-wrap'>{html.escape(before)}<mark>{html.escape(cited)}</mark>"
            f"{html.escape(after)}</div>"
        )

    # --- the model route: this process's model, for the app on the same machine -----------------
    # The app (RAGAPP_LLM_URL=http://127.0.0.1:PORT/model) sends its model requests here instead of
    # loading a model of its own, so that one model serves the machine and the API's questions and
    # the app's take their turns in one queue. It looks like llama.cpp's server to the probe.

    @app.get("/model/v1/models", summary="The model this process serves (for the app: RAGAPP_LLM_URL)")
    def model_list(request: Request) -> dict[str, Any]:
        model_caller(request)
        return {"object": "list", "data": [{"id": pipeline.generator.name, "object": "model", "owned_by": "ragapp"}]}

    @app.get("/model/props", summary="What the model route is, for ragapp's probe")
    def model_props(request: Request) -> dict[str, Any]:
        model_caller(request)
        return {
            "default_generation_settings": {"n_ctx": pipeline.generator.context_size},
            "total_slots": 1, "build_info": f"ragapp {__version__}",
            # The sentences this process would ask its model for: one, for the bundled model.
            "ragapp": {"model_sentences": settings.answer_sentences},
        }

    @app.post("/model/tokenize", summary="A text's length in the model's tokens")
    def model_tokenize(body: dict[str, Any], request: Request) -> dict[str, Any]:
        model_caller(request)
        return {"count": pipeline.generator.count_tokens(str(body.get("content", "")))}

    @app.post("/model/v1/chat/completions", summary="The model itself, streamed, in turns with every question")
    async def model_chat(body: ModelRequest, request: Request) -> StreamingResponse:
        model_caller(request)
        generator = pipeline.generator
        shape = GrammarShape(body.grammar) if body.grammar else None
        messages = [{"role": str(m.get("role", "user")), "content": str(m.get("content", ""))} for m in body.messages]
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()

        def work() -> None:
            try:
                with pipeline.model_queue.turn(cancelled=cancelled):
                    pieces = iter(generator.stream(messages, body.max_tokens, shape))
                    try:
                        for piece in pieces:
                            if cancelled.is_set():
                                break  # the client stopped reading: the model is freed now
                            loop.call_soon_threadsafe(queue.put_nowait, ("piece", piece))
                    finally:
                        getattr(pieces, "close", lambda: None)()
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except Cancelled:
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except Exception as exc:
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        _ANSWERS.submit(work)  # a long-lived worker, as for answers (a new thread's first run is slower)
        completion_id, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

        def chunk(delta: dict, finish: str | None = None) -> str:
            return _sse({"id": completion_id, "object": "chat.completion.chunk", "created": created,
                         "model": generator.name, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

        async def sse() -> AsyncIterator[str]:
            try:
                while True:
                    kind, value = await queue.get()
                    if kind == "piece":
                        yield chunk({"content": value})
                    elif kind == "end":
                        yield chunk({}, "stop")
                        yield "data: [DONE]\n\n"
                        return
                    else:
                        yield _sse(_library_error(value).body())
                        return
            finally:
                cancelled.set()

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


# --- answers: the pipeline runs in a worker thread; its pieces cross into the event loop ------------

# Long-lived workers: a thread's first answer costs about 80 ms more than its later ones (the
# embedder's and the model's thread pools are set up per thread), so answers do not each get a new one.
# Most of an answer's time is the model's, taken in turns, so a few workers serve many clients.
_ANSWERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ragapp-answer")


def _answer_events(workspace: Workspace, question: str, collection: str, only: Filter | None,
                   follows: str | None) -> AsyncIterator[tuple[str, Any]]:
    """("piece", text) for each piece as it is shown, then ("answer", Answer), or ("error", exc).
    When the consumer stops early (the client went away), the answer is cancelled and its place in
    the model's queue is freed at once."""

    async def events() -> AsyncIterator[tuple[str, Any]]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                answer = workspace.ask(
                    question, collection, on_token=lambda piece: put(("piece", piece)), only=only,
                    follows=follows, cancelled=cancelled,
                )
                put(("answer", answer))
            except Cancelled:
                put(("cancelled", None))
            except Exception as exc:  # reported to the client in words; the traceback goes to the log
                put(("error", exc))

        _ANSWERS.submit(work)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "cancelled":
                    return
                yield kind, value
                if kind != "piece":
                    return
        finally:
            cancelled.set()

    return events()


async def _first_event(events: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    """The first event; an error before anything was shown is raised, to get its own status."""
    kind, value = await events.__anext__()
    if kind == "error":
        raise _library_error(value)
    return kind, value


async def _chain(first: tuple[str, Any], events: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
    yield first
    if first[0] == "piece":
        async for event in events:
            yield event


async def _final(events: AsyncIterator[tuple[str, Any]]) -> Answer:
    async for kind, value in events:
        if kind == "answer":
            return value
        if kind == "error":
            raise _library_error(value)
    raise ApiError(500, "the answer was cancelled", "server_error")


# --- shapes of what goes out ---------------------------------------------------------------------------


def _passage_url(base: str, collection: str, doc_id: str, passage_id: str) -> str:
    return f"{base}/v1/documents/{doc_id}/passages/{passage_id}?collection={collection}"


def _citations(citations: list[Citation], collection: str, base: str) -> list[dict[str, Any]]:
    return [
        {**c.to_json(), "title": c.title, "document_id": c.passage.doc_id, "passage_id": c.passage.id,
         "url": _passage_url(base, collection, c.passage.doc_id, c.passage.id)}
        for c in citations
    ]


def _answer_json(answer: Answer, collection: str, base: str) -> dict[str, Any]:
    """`ragapp ask --json`'s object, each citation with the URL that opens it."""
    body = answer.to_json()
    body["citations"] = _citations(answer.citations, collection, base)
    body["collection"] = collection
    return body


def _hit_json(hit: Hit, collection: str, base: str) -> dict[str, Any]:
    p = hit.passage
    return {"score": round(hit.score, 4), "source": p.source, "page": p.page, "heading": p.heading, "title": p.title,
            "text": p.text, "document_id": p.doc_id, "passage_id": p.id, "url": _passage_url(base, collection, p.doc_id, p.id)}


def _lead(answer: Answer) -> str:
    """What an overview summarises, after the answer as `ragapp ask` prints it; empty otherwise."""
    return f"\n\n({answer.lead})" if answer.lead else ""


def _sse(data: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _tokens(text: str) -> int:
    """A token count for `usage`: words and punctuation marks (the answer is not one model's output)."""
    return len(re.findall(r"\w+|[^\w\s]", text or ""))


def _doc_id(path: str) -> str:
    from ragapp.documents import document_id

    return document_id(path)


# --- what comes in ---------------------------------------------------------------------------------------


def _text_of(message: ChatMessage) -> str:
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


def _question_of(messages: list[ChatMessage]) -> tuple[str, str | None]:
    """The last user message is the question; the user message before it, when there is one, is
    what a follow-up ("and for contractors?") is searched with."""
    asked = [_text_of(m).strip() for m in messages if m.role == "user"]
    asked = [a for a in asked if a]
    if not asked:
        raise ApiError(400, "messages holds no user message with text: the last user message is the question",
                       param="messages")
    return asked[-1], (asked[-2] if len(asked) > 1 else None)


def _filter(filters: Filters) -> Filter | None:
    if not filters:
        return None
    specs: list[str] = []
    if isinstance(filters, dict):
        for kind, values in filters.items():
            for value in [values] if isinstance(values, str) else values:
                specs.append(f"{kind}={value}")
    else:
        specs = list(filters)
    try:
        return Filter.parse(specs)
    except ValueError as exc:
        raise ApiError(400, str(exc), param="filters") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


# --- errors in words ---------------------------------------------------------------------------------------


def _validation_error(exc: RequestValidationError) -> ApiError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        return ApiError(400, f"the request body is not valid JSON ({first.get('ctx', {}).get('error', 'malformed')})",
                        code="invalid_json")
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field_name = ".".join(location) or "body"
    message = first.get("msg", "invalid request")
    if first.get("type") == "missing":
        message = "this field is required"
    details = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p not in ('body', 'query', 'path')) or 'body'}: {e.get('msg')}"
        for e in errors[1:3]
    )
    text = f"{field_name}: {message}" + (f" (also {details})" if details else "")
    return ApiError(400, text, param=field_name, code="invalid_value" if first.get("type") != "missing" else "missing_field")


def _library_error(exc: BaseException) -> ApiError:
    """What a failure of the library means for the client, in words."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QuestionError):
        return ApiError(400, str(exc), code="invalid_question", param="question")
    if isinstance(exc, AccessDenied):
        return ApiError(403, str(exc), "permission_error", "access_denied")
    if isinstance(exc, KeyRefused):
        return ApiError(401, str(exc), "authentication_error", "invalid_api_key")
    if isinstance(exc, (AccountError, ValueError)):
        return ApiError(400, str(exc))
    if isinstance(exc, StoreError):
        return ApiError(503, f"the store is not available now: {exc}", "server_error", "store_unavailable")
    log.error("request failed", exc_info=exc)
    return ApiError(500, f"the server failed on this request ({type(exc).__name__}); its log has the details",
                    "server_error", "internal_error")



# --- `ragapp serve` ------------------------------------------------------------------------------------


def serve(settings, host: str, port: int) -> int:
    """Serve the API on host:port until stopped. Refuses a network address while anyone who reaches
    it could read and change everything: sign-in off and no API key."""
    import sys

    import uvicorn

    pipeline = Pipeline(settings)
    if settings.sign_in == "none" and not _is_loopback(host) and not pipeline.keys.any_active():
        print(
            f"ragapp serve: refusing to listen on {host}: sign-in is off (RAGAPP_SIGN_IN=none) and there are no "
            "API keys, so anyone who reaches this port could read, upload and delete every document. Make a key "
            "first (ragapp keys create local), or listen on 127.0.0.1.",
            file=sys.stderr,
        )
        return 2
    if settings.sign_in != "none" and not pipeline.keys.any_active():
        print("ragapp serve: no API keys yet, so every request will be refused: ragapp keys create NAME", file=sys.stderr)
    pipeline.warm_up()  # the first question should not wait for the models
    from ragapp.lending import lend, stop_lending
    from ragapp.models import resolve_llm

    lent = None
    if not settings.llm_url and settings.model_sentence:
        # The machine's other processes of this store (the app) may use this model instead of their own.
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "", "localhost", "127.0.0.1") else host
        address = f"[{local}]" if ":" in local else local
        lent = lend(settings.store_dir, f"http://{address}:{port}/model", str(resolve_llm(settings.model_path)))
    print(f"ragapp API on http://{host}:{port} (documentation at /docs)", file=sys.stderr, flush=True)

    def stop() -> None:
        if lent is not None:
            stop_lending(settings.store_dir, lent)

    try:
        uvicorn.run(create_app(pipeline, lent.token if lent else None, on_stop=stop), host=host, port=port,
                    log_level="warning", timeout_graceful_shutdown=5)
    finally:
        stop()
    return 0
