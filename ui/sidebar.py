"""The sidebar: upload files into the collection, list its documents, delete one (for those who
may write it), and choose which documents to search."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ragapp.ingestion import FAILED, SKIPPED, Progress
from ragapp.loaders import SUPPORTED_SUFFIXES
from ragapp.store import Filter, StoreError, file_type
from ragapp.workspace import Workspace
from ui import deleting
from ui.render import inert


def upload_section(workspace: Workspace, collection: str) -> None:
    st.subheader("Add documents")
    limit = workspace.settings.max_upload_mb
    files = st.file_uploader(
        f"PDF, Word, PowerPoint, Excel, CSV, HTML, Markdown, text or image (PNG, JPEG, TIFF: read by OCR) files (up to {limit:g} MB each)",
        type=sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES),
        accept_multiple_files=True,
        key=f"uploader-{st.session_state.get('upload_round', 0)}",
    )
    if not files or not st.button("Ingest", type="primary"):
        return
    bar = st.progress(0.0, text="Reading files…")

    def progress(p: Progress) -> None:
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s else ""
        bar.progress(p.files_done / max(1, p.files_total), text=f"{p.files_done}/{p.files_total} files, {p.passages} passages{eta}")

    waiting = st.empty()
    try:
        # Each file is kept under a generated name, its type judged from its content (ragapp.uploads).
        uploads = [(file.name, file.getvalue()) for file in files]
        report = workspace.upload(uploads, collection, on_progress=progress, on_wait=lambda message: waiting.info(inert(message.capitalize())))
    except StoreError as exc:  # busy, or the store's server not answering
        st.error(f"Not stored: {exc}.")
        return
    finally:
        waiting.empty()
        bar.empty()
    # The same outcomes, in the same words, as `ingest` prints.
    for outcome in report.outcomes:
        line = inert(f"{outcome.source}: {outcome.describe()}")
        if outcome.status in (FAILED, SKIPPED):
            st.error(line)
        else:
            st.success(line)
    # A new uploader key clears the picked files, so they are not ingested twice.
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1


def documents_section(workspace: Workspace, collection: str) -> None:
    records = workspace.documents(collection)
    may_delete = workspace.may_write(collection)
    st.subheader(f"Documents ({len(records)})")
    deleting.done_message()
    if not records:
        hint = "upload some above, or run `ingest FOLDER`" if may_delete else "someone who may add documents to this collection has to add some"
        st.info(f"No documents yet: {hint}.")
        return
    for record in records:
        left, right = st.columns([5, 1])
        pages = f" · {_count(record.pages, 'slide' if record.kind == 'pptx' else 'page')}" if record.pages else ""
        left.markdown(f"**{inert(Path(record.source).name)}**  \n{_count(record.passages, 'passage')}{pages}")
        if not may_delete:
            continue
        if right.button("", icon=":material/delete:", key=f"delete-{record.doc_id}", help=inert(f"Delete {record.source}")):
            deleting.ask_to_delete(collection, [record])
            st.rerun()
    if may_delete:
        deleting.confirmation(workspace, collection, "sidebar-delete")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def filter_section(workspace: Workspace, collection: str) -> Filter | None:
    """"Search in": restrict questions to some folders, file types or documents."""
    records = workspace.documents(collection)
    if len(records) < 2:
        return None
    sources = [r.source for r in records]
    folders = sorted({s.rsplit("/", 1)[0] for s in sources if "/" in s})
    types = sorted({file_type(s) for s in sources} - {""})
    st.subheader("Search in")
    st.caption("Leave empty to search every document.")
    chosen_folders = st.multiselect("Folders", folders, key=f"filter-folders-{collection}") if folders else []
    chosen_types = st.multiselect("File types", types, key=f"filter-types-{collection}") if len(types) > 1 else []
    chosen_documents = st.multiselect("Documents", sources, key=f"filter-documents-{collection}")
    only = Filter(documents=tuple(chosen_documents), folders=tuple(chosen_folders), types=tuple(chosen_types))
    return None if only.is_empty() else only
