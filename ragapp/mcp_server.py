"""`ragapp mcp`: a Model Context Protocol server on stdio (the official `mcp` SDK), so that desktop
assistants and agents search the knowledge base and get its checked, cited answers. It acts as one
person (`--user NAME`, or the machine's owner), through the same `Workspace` as the app and the API."""

from __future__ import annotations

import logging
import sys
from typing import Any

from ragapp.accounts import AccessDenied
from ragapp.documents import QuestionError
from ragapp.settings import Settings
from ragapp.store import StoreError


def build_server(workspace) -> "Any":
    """The MCP server with its two tools, acting as the workspace's person."""
    from mcp.server.fastmcp import FastMCP
    from mcp.server.fastmcp.exceptions import ToolError

    settings = workspace.settings
    server = FastMCP(
        "ragapp",
        instructions=(
            "Answers from the team's own documents. `ask` gives a checked answer whose every sentence cites a "
            "passage as [n]; `search` gives the passages closest to a query. Collections: "
            + (", ".join(workspace.collections()) or "none")
        ),
    )

    def collection_of(collection: str | None) -> str:
        name = collection or settings.collection
        if name not in workspace.collections():
            raise ToolError(f"there is no collection '{name}' that {workspace.user.name} may read")
        return name

    def failed(exc: Exception) -> ToolError:
        return ToolError(str(exc) if isinstance(exc, (AccessDenied, QuestionError, StoreError)) else
                         f"the question failed ({type(exc).__name__}: {exc})")

    @server.tool()
    def search(query: str, collection: str | None = None, top_k: int = 5) -> list[dict[str, Any]]:
        """The passages of a collection closest to the query, best first, with where each comes from."""
        name = collection_of(collection)
        try:
            hits = workspace.search(query, name, k=max(1, min(top_k, 50)))
        except Exception as exc:
            raise failed(exc) from None
        return [
            {"source": h.passage.source, "page": h.passage.page, "heading": h.passage.heading,
             "text": h.passage.text, "score": round(h.score, 4)}
            for h in hits
        ]

    @server.tool()
    def ask(question: str, collection: str | None = None, follows: str | None = None) -> dict[str, Any]:
        """A checked answer from the documents: each sentence cites a passage as [n], and `citations`
        says where each passage is. When the documents do not say, the answer says so (refused)."""
        name = collection_of(collection)
        try:
            answer = workspace.ask(question, name, follows=follows)
        except Exception as exc:
            raise failed(exc) from None
        body = answer.to_json()
        del body["timings"]
        return body

    return server


def run(settings: Settings, user: str | None) -> int:
    from ragapp.pipeline import Pipeline
    from ragapp.workspace import workspace_for

    # stdout carries the protocol: every word of the log goes to stderr.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    pipeline = Pipeline(settings)
    workspace = workspace_for(pipeline, user)
    pipeline.warm_up()
    build_server(workspace).run("stdio")
    return 0
