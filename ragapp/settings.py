"""The one settings object: defaults, then an optional TOML file, then RAGAPP_* environment variables."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ragapp.embedder import PRECISIONS
from ragapp.store.chroma import parse_headers

if TYPE_CHECKING:
    from ragapp.store.chroma import ChromaPlace

ENV_PREFIX = "RAGAPP_"
CONFIG_ENV = "RAGAPP_CONFIG"
DEFAULT_CONFIG_FILE = "ragapp.toml"


class SettingsError(ValueError):
    """A setting has a value that cannot be used."""


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Everything the library, the CLI and the app can be configured with."""

    store_dir: Path = _setting(Path("data/store"), "Folder of the Chroma store and the ingest manifest.")
    upload_dir: Path = _setting(Path("data/uploads"), "Folder where files uploaded in the app are kept.")
    collection: str = _setting("default", "Collection used when none is named.")
    chroma: str = _setting(
        "local",
        "Where the vectors are kept when chroma_url is empty. 'local': a Chroma server for the store "
        "folder on 127.0.0.1, started by the first process that needs it and shared by every process of "
        "this machine (the app, ingest, ingest --watch, ragapp ask). 'embedded': Chroma inside the "
        "process, for a process alone with its store (the folder is locked to it).",
    )
    chroma_url: str = _setting(
        "",
        "A `chroma run` server shared by several hosts (http://host:port), same chromadb version as "
        "here. The manifest, word index and accounts stay in the store folder of this host.",
    )
    chroma_headers: str = _setting(
        "", "HTTP headers sent to the Chroma server, 'Name: value' pairs separated by ';' (for a proxy that adds auth)."
    )
    chroma_timeout_s: float = _setting(
        30.0, "Longest wait for one answer of the Chroma server; then the question fails with a message."
    )
    chroma_idle_s: float = _setting(
        300.0, "The local Chroma server stops after this many seconds in which no process used the store."
    )
    model_path: str = _setting(
        "",
        "GGUF chat model file. Empty: the bundled SmolLM2-135M-Instruct Q4_1. "
        "Any GGUF works; its chat template is read from the file's metadata.",
    )
    embed_model: str = _setting(
        "",
        "sentence-transformers model folder. Empty: the bundled all-MiniLM-L6-v2. "
        "Changing it requires re-ingesting with --reset.",
    )
    llm_url: str = _setting(
        "",
        "An OpenAI-compatible model server to answer with instead of the GGUF file (http://host:port/v1): "
        "llama.cpp's llama-server, llama-cpp-python's server, vLLM or Ollama. Its kind, model and how "
        "answers are held to their shape are found at start-up (`ragapp settings`).",
    )
    llm_model: str = _setting("", "Model name sent to the model server. Empty: the first model it lists.")
    llm_api_key: str = _setting("", "API key for the model server (sent as a Bearer token; shown as ***).")
    llm_timeout_s: float = _setting(
        30.0,
        "Longest wait for the model server (to connect, and between two pieces of an answer); past it the "
        "quoted answer stands alone, with a message saying the server did not answer.",
    )
    llm_parallel: int = _setting(
        0,
        "Questions sent to the model server at once (a server that batches: vLLM, `llama-server -np N`). "
        "0: what the server reports (llama-server's slots), else 1.",
    )
    model_sentences: int = _setting(
        0,
        "Most sentences the model may add after the quoted answer, each checked. 0: one for the bundled "
        "model, three for a model server.",
    )
    context_size: int = _setting(
        4096, "Model context window in tokens (prompt + answer); for a model server, used when it does not say."
    )
    threads: int = _setting(0, "CPU threads for the model. 0: all cores.")
    gpu_layers: int = _setting(0, "Model layers offloaded to a GPU (needs a GPU build of llama-cpp-python).")
    temperature: float = _setting(0.0, "Sampling temperature; 0 gives the same answer to the same question.")
    max_answer_tokens: int = _setting(80, "Most tokens the model may generate for its sentence of an answer.")
    model_sentence_s: float = _setting(
        4.0, "Most seconds the model may spend on its sentence; past them the quoted answer stands alone."
    )
    model_sentence: bool = _setting(
        True,
        "After the quoted answer, ask the model for one short sentence on the quotes, shown only when "
        "the verifier finds it in the passage it cites. Off: answers are quoted sentences alone, and "
        "no model is loaded.",
    )
    share_model: bool = _setting(
        True,
        "When a `ragapp serve` of the same store runs on this machine, use its model (its model route) "
        "instead of loading one: one model for the machine, and the app's questions and the API's take "
        "turns in one queue. Off: this process loads its own.",
    )
    chunk_size: int = _setting(
        200, "Passage size in tokens of the embedding model's tokenizer (MiniLM reads at most 256)."
    )
    chunk_overlap: int = _setting(30, "Tokens shared by consecutive passages of a document.")
    top_k: int = _setting(3, "Passages retrieved for each question and shown to the model.")
    retrieval: str = _setting(
        "hybrid",
        "How passages are found: 'hybrid' scores meaning (dense vectors), words (BM25) and the share "
        "of the question's key words together; 'dense' or 'lexical' uses one alone.",
    )
    reranker_path: str = _setting(
        "",
        "Cross-encoder model folder (sentence-transformers CrossEncoder) that reorders the best "
        "20 hybrid candidates. Empty: no reranking (none ships with ragapp).",
    )
    min_relevance: float = _setting(
        1.125,
        "Relevance gate. A retrieved sentence's relevance is its cosine similarity to the question, plus "
        "half the share of the question's key words it holds (rare words weigh more), plus half the share "
        "that it and its two neighbours hold, plus 0.1 or 0.05 when it comes from the first or second "
        "passage retrieved; when no sentence reaches this, the answer is declined without calling the "
        "model. Calibrated on ../shared/bench/squad2-dev (see the README).",
    )
    min_support: float = _setting(
        0.7,
        "Verifier: least cosine similarity between an answer sentence and the passage it cites (or one "
        "of the passage's sentences); below it the sentence is not shown as fact.",
    )
    embed_batch_size: int = _setting(32, "Passages embedded per batch during ingest.")
    embed_precision: str = _setting(
        "auto",
        "Number format of the embedding model: 'bf16' where the CPU has native BF16 (AVX-512 BF16 or "
        "AMX), about twice as fast; 'float32' elsewhere. 'auto' chooses from the CPU's flags. Vectors "
        "of both agree (cosine 0.9999): a store written at one is searched at the other.",
    )
    parse_workers: int = _setting(0, "Worker processes reading files during ingest. 0: one per core.")
    parse_timeout_s: float = _setting(
        120.0, "Longest a worker may spend reading one file; a file that takes longer fails as timed out."
    )
    parse_memory_mb: int = _setting(
        2048, "Memory cap of each worker reading a file (MB); a file that needs more fails with that reason."
    )
    ocr: bool = _setting(
        True,
        "Read PDF pages without a text layer, and PNG/JPEG/TIFF images, by OCR (Tesseract, `tesseract-ocr`). "
        "Off: such files fail as having no extractable text.",
    )
    ocr_languages: str = _setting(
        "eng", "Tesseract languages for OCR, '+'-joined ('eng+deu'); each needs its tesseract-ocr-LANG package."
    )
    max_file_mb: float = _setting(200.0, "Files larger than this (MB) are skipped as over the size limit.")
    write_wait_s: float = _setting(
        300.0, "How long an ingest or upload waits for another writer of the same store before giving up."
    )
    max_upload_mb: float = _setting(50.0, "Largest file (MB) the app accepts as an upload.")
    max_question_chars: int = _setting(
        2000, "Longest question accepted, in characters (the app, the CLI's ask, the HTTP API and MCP)."
    )
    sign_in: str = _setting(
        "none",
        "Who uses the app: 'none' (one local user, who may do everything: for one person on their own "
        "machine), 'accounts' (sign in with a name and password; `ragapp users add`), or 'proxy' (the team's "
        "single-sign-on proxy names the user in the header below; accounts without passwords).",
    )
    proxy_header: str = _setting(
        "X-Forwarded-User",
        "Header naming the signed-in user, set by the team's sign-on proxy. Read only when sign_in is "
        "'proxy': honoured only from the proxy's addresses and with its secret (below).",
    )
    proxy_addresses: str = _setting(
        "127.0.0.1,::1",
        "Addresses (or networks, 10.0.0.0/24) the sign-on proxy connects from, comma-separated; the proxy's "
        "header is refused from anywhere else. Empty: any address (then proxy_secret must be set).",
    )
    proxy_secret: str = _setting(
        "", "Shared secret the sign-on proxy sends in proxy_secret_header; when set, a request without it is refused."
    )
    proxy_secret_header: str = _setting("X-Ragapp-Proxy-Secret", "Header carrying proxy_secret.")
    app_db: Path = _setting(
        Path(""), "SQLite file of the accounts, grants and conversation history. Empty: app.sqlite in the store folder."
    )

    @classmethod
    def load(
        cls,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> "Settings":
        """Build settings from defaults, the TOML file, the environment, then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or env.get(CONFIG_ENV)
        if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
            path = DEFAULT_CONFIG_FILE
        if path is not None:
            values.update(_read_toml(Path(path)))
        names = {f.name for f in dataclasses.fields(cls)}
        for name in names:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Settings":
        """Convert raw values (strings from the environment, TOML values) to typed settings."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(fields)
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        typed = {name: _convert(name, fields[name].type, value) for name, value in values.items()}
        settings = cls(**typed)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Reject combinations that cannot work, with a message naming the setting."""
        positive = ("context_size", "max_answer_tokens", "model_sentence_s", "chunk_size", "top_k", "embed_batch_size")
        for name in positive:
            if getattr(self, name) <= 0:
                raise SettingsError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise SettingsError("chunk_overlap must be at least 0 and smaller than chunk_size")
        if self.max_answer_tokens >= self.context_size:
            raise SettingsError("max_answer_tokens must be smaller than context_size")
        if not -1 <= self.min_support <= 1:
            raise SettingsError("min_support is a cosine similarity, between -1 and 1")
        if self.retrieval not in ("hybrid", "dense", "lexical"):
            raise SettingsError(f"retrieval must be 'hybrid', 'dense' or 'lexical', got {self.retrieval!r}")
        if self.temperature < 0:
            raise SettingsError("temperature must not be negative")
        if self.sign_in not in ("none", "accounts", "proxy"):
            raise SettingsError(f"sign_in must be 'none', 'accounts' or 'proxy', got {self.sign_in!r}")
        if self.sign_in == "proxy" and not (self.proxy_addresses.strip() or self.proxy_secret):
            raise SettingsError(
                "sign_in 'proxy' needs proxy_addresses or proxy_secret (or both): otherwise anyone who reaches "
                "the app could name themselves in the header"
            )
        self.proxy_networks()  # a mistyped address is reported now, not at the first sign-in
        if self.max_upload_mb <= 0:
            raise SettingsError("max_upload_mb must be positive")
        if self.max_question_chars <= 0:
            raise SettingsError("max_question_chars must be positive")
        if self.embed_precision not in PRECISIONS:
            raise SettingsError(f"embed_precision must be one of {', '.join(PRECISIONS)}, got {self.embed_precision!r}")
        if self.chroma not in ("local", "embedded"):
            raise SettingsError(f"chroma must be 'local' or 'embedded', got {self.chroma!r} (a server: set chroma_url)")
        if self.chroma_url and not self.chroma_url.startswith(("http://", "https://")):
            raise SettingsError(f"chroma_url must be an http:// or https:// address, got {self.chroma_url!r}")
        try:
            parse_headers(self.chroma_headers)
        except ValueError as exc:
            raise SettingsError(f"chroma_headers: {exc}") from None
        if self.llm_url and not self.llm_url.startswith(("http://", "https://")):
            raise SettingsError(f"llm_url must be an http:// or https:// address, got {self.llm_url!r}")
        if self.llm_timeout_s <= 0:
            raise SettingsError("llm_timeout_s must be positive")
        if self.llm_parallel < 0 or self.model_sentences < 0:
            raise SettingsError("llm_parallel and model_sentences must not be negative")
        if self.chroma_timeout_s <= 0 or self.chroma_idle_s < 0:
            raise SettingsError("chroma_timeout_s must be positive and chroma_idle_s not negative")

    @property
    def chroma_place(self) -> "ChromaPlace":
        """Where the vectors are: this folder's local server, the team's server, or this process."""
        from ragapp.store.chroma import ChromaPlace

        mode = "server" if self.chroma_url else self.chroma
        return ChromaPlace(
            mode, self.store_dir, self.chroma_url.rstrip("/"), parse_headers(self.chroma_headers),
            self.chroma_timeout_s, self.chroma_idle_s,
        )

    @property
    def app_db_path(self) -> Path:
        """Where accounts, grants and history are kept."""
        return self.app_db if str(self.app_db) not in ("", ".") else self.store_dir / "app.sqlite"

    def proxy_networks(self) -> list:
        """proxy_addresses as networks (a single address is a network of one)."""
        import ipaddress

        networks = []
        for part in self.proxy_addresses.split(","):
            if part.strip():
                try:
                    networks.append(ipaddress.ip_network(part.strip(), strict=False))
                except ValueError:
                    raise SettingsError(f"proxy_addresses: {part.strip()!r} is not an IP address or network") from None
        return networks

    def shown(self) -> dict[str, str]:
        """Every setting as it may be shown to an administrator: header values (secrets) hidden."""
        values = {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.chroma_headers:
            values["chroma_headers"] = "; ".join(f"{name}: ***" for name, _ in parse_headers(self.chroma_headers))
        if self.llm_api_key:
            values["llm_api_key"] = "***"
        if self.proxy_secret:
            values["proxy_secret"] = "***"
        return values

    @property
    def answer_sentences(self) -> int:
        """Most sentences of the model's after the quotes (see model_sentences)."""
        return self.model_sentences or (3 if self.llm_url else 1)

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting: the README table."""
        rows = []
        for f in dataclasses.fields(cls):
            default = "" if f.default == Path("") else str(f.default)
            rows.append((ENV_PREFIX + f.name.upper(), default, f.metadata["help"]))
        return rows


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    # Accept both a flat file and one with a [ragapp] table.
    return dict(data.get("ragapp", data))


def _convert(name: str, type_name: Any, value: Any) -> Any:
    type_name = type_name if isinstance(type_name, str) else type_name.__name__
    try:
        if type_name == "Path":
            return Path(value)
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        return str(value)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a {type_name}, got {value!r}") from None
