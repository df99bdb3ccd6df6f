"""The Settings page: the models, the store and the retrieval settings in force (read-only)."""

from __future__ import annotations

import dataclasses

import streamlit as st

from ragapp.embedder import choose_precision
from ragapp.factory import describe_model
from ragapp.models import resolve_embed_model
from ragapp.settings import ENV_PREFIX
from ragapp.workspace import Workspace


def page(workspace: Workspace) -> None:
    settings = workspace.settings
    st.header("Settings")
    st.caption(
        "In force for this app, from the defaults, the settings file and the RAGAPP_* environment variables. "
        "Change them there and restart the app."
    )
    precision = choose_precision(settings.embed_precision)
    st.subheader("Models and store")
    st.table(
        [
            {"What": "Chat model", "In force": describe_model(settings)},
            {"What": "Embedding model", "In force": str(resolve_embed_model(settings.embed_model))},
            {"What": "Embedding precision", "In force": f"{precision.value} ({precision.reason})"},
            {"What": "Reranker", "In force": settings.reranker_path or "none"},
            {"What": "Store folder (manifest, word index, accounts)", "In force": str(settings.store_dir.resolve())},
            {"What": "Vectors (Chroma)", "In force": workspace.vectors_status()},
            {"What": "Upload folder", "In force": str(settings.upload_dir.resolve())},
            {"What": "Collection", "In force": settings.collection},
            {"What": "Collections in the store", "In force": ", ".join(workspace.known_collections()) or "none yet"},
        ],
    )
    st.subheader("All settings")
    helps = {f.name: f.metadata.get("help", "") for f in dataclasses.fields(settings)}
    shown = settings.shown()
    st.table(
        [
            {
                "Setting": ENV_PREFIX + name.upper(),
                "Value": shown[name],
                "What it does": helps[name],
            }
            for name in helps
        ],
    )
