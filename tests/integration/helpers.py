"""Helpers shared by the integration tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

BIN = Path(sys.executable).parent


# A fact that exists nowhere but in the PDF the tests generate, on its second page.
GENERATED_PDF_PAGES = [
    ["Project Lighthouse: internal briefing", "", "Project Lighthouse is the client portal that Fernhill is building for Harbour Logistics."],
    [
        "Budget and schedule",
        "",
        "The Lighthouse project has a total budget of 84,000 euros.",
        "The Lighthouse launch date is 14 September 2026.",
        "The project lead for Lighthouse is Priya Raman.",
    ],
]


class CountingEmbedder:
    """The real embedder, counting the texts it embeds (to prove what a re-run did not redo)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.embedded = 0

    def embed_batch(self, texts):
        self.embedded += len(texts)
        return self.inner.embed_batch(texts)

    def count_tokens(self, text):
        return self.inner.count_tokens(text)


def cli_env(store_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGAPP_")}
    # The store's local Chroma server outlives each command by 30 s, not the 5 minutes people get:
    # enough for the next command of a test to find it, without leaving dozens behind.
    env.update({"RAGAPP_STORE_DIR": str(store_dir), "PYTHONUNBUFFERED": "1", "RAGAPP_CHROMA_IDLE_S": "30", **extra})
    return env


def run_cli(
    args: list[str], store_dir: Path, prefix: list[str] | None = None, timeout: int = 600, bin_dir: Path | None = BIN,
    **extra: str,
):
    """Run a console script of this venv (or, with bin_dir None, any command) as a user would, in a
    fresh process."""
    command = (prefix or []) + [str(bin_dir / args[0]) if bin_dir else args[0], *args[1:]]
    return subprocess.run(command, cwd=ROOT, env=cli_env(store_dir, **extra), capture_output=True, text=True, timeout=timeout)
