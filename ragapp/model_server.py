"""Answers from a model server: any OpenAI-compatible chat endpoint (RAGAPP_LLM_URL).

llama.cpp's `llama-server`, llama-cpp-python's `python -m llama_cpp.server`, vLLM and Ollama all
speak the OpenAI chat API, but each holds an answer to a shape in its own way:
- the llama.cpp family takes a GBNF `grammar` field (the same grammar the in-process model gets);
- vLLM takes the grammar as `structured_outputs: {grammar}` (`guided_grammar` before 0.12);
- Ollama and other servers take `response_format` with a JSON schema, and the JSON is turned back
  into "Sentence. [n]" text here.
Some servers accept a constraint and ignore it; nothing here relies on it being kept: the pipeline's
verifier judges every sentence, and a citation of a passage that was not shown is never kept.

Which server it is, its model, its context window and how many questions it takes at once are
found once by `probe` (and again after a failure), and shown by `ragapp settings` and the app's
Settings page. Every failure (down, slow, 5xx, garbage) is a ModelServerError whose message says
what happened in words; the pipeline then gives the quoted answer with that message.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from typing import Iterator, Sequence

import httpx

from ragapp.prompts import AnswerShape, sentences_from_json

LLAMA_CPP = "llama.cpp server"
LLAMA_CPP_PYTHON = "llama-cpp-python server"
VLLM = "vLLM"
OLLAMA = "Ollama"
OPENAI_COMPATIBLE = "OpenAI-compatible server"
RAGAPP = "ragapp serve (its model route)"

GRAMMAR = "GBNF grammar"
VLLM_GRAMMAR = "grammar (vLLM structured outputs)"
JSON_SCHEMA = "JSON schema (response_format)"


class ModelServerError(RuntimeError):
    """The model server gave no usable answer; the message says why, for the person asking."""


class _BadStream(ValueError):
    """What the server sent is not an OpenAI chat stream (the message says what it is)."""


@dataclass(frozen=True)
class ServerInfo:
    """What the probe found out about the server."""

    url: str  # the OpenAI base URL, ending in /v1
    kind: str
    model: str
    constraint: str
    context_size: int | None = None  # None: the server does not say
    slots: int | None = None  # questions it answers at once, where it says
    version: str = ""
    sentences: int | None = None  # how many sentences the server suggests its model be asked for

    def describe(self) -> str:
        parts = [f"{self.kind}{' ' + self.version if self.version else ''} at {self.url}", f"model {self.model}",
                 f"answers held to a {self.constraint}"]
        if self.context_size:
            parts.append(f"context {self.context_size} tokens")
        if self.slots:
            parts.append(f"{self.slots} slot{'s' if self.slots != 1 else ''}")
        return ", ".join(parts)


def base_url(url: str) -> str:
    """The OpenAI base URL: "http://host:8080" and "http://host:8080/v1/" both give ".../v1"."""
    url = url.strip().rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def _reason(exc: Exception) -> str:
    """A failure in words, without a traceback."""
    if isinstance(exc, httpx.ConnectError):
        return "it cannot be reached (connection refused or no such host)"
    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, httpx.HTTPStatusError):
        body = exc.response.text.strip().replace("\n", " ")[:200]
        return f"it answered HTTP {exc.response.status_code}{': ' + body if body else ''}"
    if isinstance(exc, httpx.HTTPError):
        return f"the connection failed ({type(exc).__name__})"
    if isinstance(exc, _BadStream):
        return str(exc)
    return f"it sent something that is not a chat stream ({exc})"


def _get_json(client: httpx.Client, url: str) -> dict | None:
    """The JSON object at url, or None when there is none (404, not JSON): a probe, not a failure."""
    response = client.get(url)
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def probe(url: str, model: str = "", api_key: str = "", timeout_s: float = 30.0) -> ServerInfo:
    """Which server answers at url, with which model, context and constraint."""
    base = base_url(url)
    root = base[: -len("/v1")]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with httpx.Client(timeout=timeout_s, headers=headers) as client:
            models = client.get(f"{base}/models")
            models.raise_for_status()
            try:
                listed = [m for m in models.json().get("data", []) if isinstance(m, dict)]
            except (ValueError, AttributeError):
                raise ModelServerError(f"the model server at {base} did not list its models (GET /v1/models is not JSON)") from None
            ids = [str(m.get("id", "")) for m in listed]
            chosen = model or (ids[0] if ids else "")
            if not chosen:
                raise ModelServerError(f"the model server at {base} lists no models; set RAGAPP_LLM_MODEL")
            entry = next((m for m in listed if m.get("id") == chosen), {})
            props = _get_json(client, f"{root}/props")
            if props is not None and "default_generation_settings" in props:
                settings = props.get("default_generation_settings") or {}
                n_ctx = settings.get("n_ctx") or props.get("n_ctx")
                own = props.get("ragapp")
                if isinstance(own, dict):  # another ragapp process lends its model (ragapp serve)
                    return ServerInfo(base, RAGAPP, chosen, GRAMMAR, _positive(n_ctx), _positive(props.get("total_slots")),
                                      str(props.get("build_info", "")), _positive(own.get("model_sentences")))
                return ServerInfo(base, LLAMA_CPP, chosen, GRAMMAR, _positive(n_ctx), _positive(props.get("total_slots")),
                                  str(props.get("build_info", "")))
            ollama = _get_json(client, f"{root}/api/version")
            if ollama is not None and "version" in ollama:
                return ServerInfo(base, OLLAMA, chosen, JSON_SCHEMA, None, None, str(ollama["version"]))
            vllm = _get_json(client, f"{root}/version")
            if vllm is not None and "version" in vllm:
                return ServerInfo(base, VLLM, chosen, VLLM_GRAMMAR, _positive(entry.get("max_model_len")), None, str(vllm["version"]))
            openapi = _get_json(client, f"{root}/openapi.json")
            if openapi is not None and "llama.cpp Python" in str((openapi.get("info") or {}).get("title", "")):
                return ServerInfo(base, LLAMA_CPP_PYTHON, chosen, GRAMMAR, None, None,
                                  str((openapi.get("info") or {}).get("version", "")))
            return ServerInfo(base, OPENAI_COMPATIBLE, chosen, JSON_SCHEMA)
    except ModelServerError:
        raise
    except httpx.HTTPError as exc:
        raise ModelServerError(f"the model server at {base} did not answer: {_reason(exc)}") from None


def _positive(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _vllm_grammar_field(version: str) -> str:
    """vLLM renamed guided_grammar to structured_outputs in 0.12 (and removed the old name)."""
    try:
        major, minor = (int(p) for p in version.split(".")[:2])
    except ValueError:
        return "structured_outputs"
    return "structured_outputs" if (major, minor) >= (0, 12) else "guided_grammar"


class ServerGenerator:
    """A chat model behind an OpenAI-compatible server (see the module's text)."""

    def __init__(
        self,
        url: str,
        model: str = "",
        api_key: str = "",
        timeout_s: float = 30.0,
        context_size: int = 4096,
        temperature: float = 0.0,
        parallel: int = 0,
    ) -> None:
        self.url = base_url(url)
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.temperature = temperature
        self._fallback_context = context_size
        self._parallel = parallel
        self._info: ServerInfo | None = None
        self.lent_by: int | None = None  # the process id of a `ragapp serve` lending its model (ragapp.lending)
        self._lock = threading.Lock()
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
        )

    def info(self) -> ServerInfo:
        """The probe's findings, probed on first use and again after a failure."""
        with self._lock:
            if self._info is None:
                self._info = probe(self.url, self.model, self.api_key, self.timeout_s)
            return self._info

    @property
    def name(self) -> str:
        info = self._info
        return f"{info.model} ({info.kind} at {self.url})" if info else f"{self.model or 'model'} at {self.url}"

    @property
    def context_size(self) -> int:
        info = self._info
        return (info.context_size if info and info.context_size else None) or self._fallback_context

    @property
    def suggested_sentences(self) -> int | None:
        """The sentences the server suggests asking its model for (ragapp serve: its own setting)."""
        try:
            return self.info().sentences
        except ModelServerError:
            return None

    @property
    def parallel(self) -> int:
        """How many questions the server is given at once."""
        if self._parallel:
            return self._parallel
        try:
            return self.info().slots or 1
        except ModelServerError:
            return 1

    def body(self, messages: Sequence[dict], max_tokens: int, shape: AnswerShape | None, info: ServerInfo) -> dict:
        """The request: the OpenAI fields, and the answer's shape the way this server takes it."""
        body: dict = {
            "model": info.model,
            "messages": list(messages),
            "max_tokens": max_tokens,
            "temperature": self.temperature,
            "stream": True,
        }
        if shape is None:
            return body
        if info.constraint == GRAMMAR:
            body["grammar"] = shape.grammar
        elif info.constraint == VLLM_GRAMMAR:
            if _vllm_grammar_field(info.version) == "structured_outputs":
                body["structured_outputs"] = {"grammar": shape.grammar}
            else:
                body["guided_grammar"] = shape.grammar
        else:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": shape.json_schema, "strict": True},
            }
        return body

    def stream(self, messages: Sequence[dict], max_tokens: int, shape: AnswerShape | None = None) -> Iterator[str]:
        info = self.info()
        json_answer = shape is not None and info.constraint == JSON_SCHEMA
        raw, shown = "", ""
        try:
            with self._client.stream("POST", f"{self.url}/chat/completions", json=self.body(messages, max_tokens, shape, info)) as response:
                if response.status_code != 200:
                    response.read()
                    response.raise_for_status()
                for piece in _sse_pieces(response.iter_lines()):
                    if not json_answer:
                        yield piece
                        continue
                    raw += piece
                    if not raw.lstrip().startswith("{"):
                        # The server ignored the schema and wrote text: the verifier judges it as it is.
                        text = raw
                    else:
                        text = sentences_from_json(raw)
                    if len(text) > len(shown) and text.startswith(shown):
                        yield text[len(shown):]
                        shown = text
        except (httpx.HTTPError, ValueError) as exc:
            self._forget()
            raise ModelServerError(f"the model server at {self.url} did not answer: {_reason(exc)}") from None

    def _forget(self) -> None:
        """Probe again next time: the server may have been restarted, or replaced."""
        with self._lock:
            self._info = None

    def count_tokens(self, text: str) -> int:
        """The text's length in the server's own tokens where it has a route for that (llama.cpp,
        llama-cpp-python, vLLM); elsewhere an over-estimate (English runs about four characters a
        token; three bytes a token leaves room)."""
        try:
            info = self.info()
        except ModelServerError:
            info = None  # the answer itself will say what is wrong with the server
        root = self.url[: -len("/v1")]
        request = {
            LLAMA_CPP: (f"{root}/tokenize", {"content": text}),
            RAGAPP: (f"{root}/tokenize", {"content": text}),
            LLAMA_CPP_PYTHON: (f"{root}/extras/tokenize/count", {"input": text}),
            VLLM: (f"{root}/tokenize", {"model": info.model if info else "", "prompt": text}),
        }.get(info.kind if info else "")
        if request is not None:
            try:
                response = self._client.post(request[0], json=request[1])
                response.raise_for_status()
                body = response.json()
                count = body.get("count", len(body.get("tokens", [])) if "tokens" in body else None)
                if isinstance(count, int):
                    return count
            except (httpx.HTTPError, ValueError, AttributeError):
                pass
        return math.ceil(len(text.encode("utf-8")) / 3)


def _sse_pieces(lines: Iterator[str]) -> Iterator[str]:
    """The content pieces of an OpenAI chat stream (server-sent events, `data: {...}` lines)."""
    for line in lines:
        line = line.strip()
        if not line or line.startswith(":"):
            continue  # keep-alive comments
        if not line.startswith("data:"):
            continue  # event names, ids
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            return
        try:
            chunk = json.loads(data)
        except ValueError:
            raise _BadStream(f"it sent something that is not a chat stream: {data[:80]!r}") from None
        if not isinstance(chunk, dict):
            raise _BadStream(f"it sent something that is not a chat stream: {data[:80]!r}")
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise _BadStream(f"it reported an error: {message}")
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            piece = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(piece, str) and piece:
                yield piece
