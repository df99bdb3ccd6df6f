"""The sidebar: upload files into the store, list the documents, delete one."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import streamlit as st

from ragapp.ingestion import FAILED, SKIPPED, Progress
from ragapp.loaders import SUPPORTED_SUFFIXES
from ragapp.pipeline import Pipeline
from ragapp.store import Filter, StoreBusyError, file_type
from ui.render import inert


def safe_upload_name(name: str) -> str:
    """A file name that stays inside the upload folder whatever the browser sent."""
    base = Path(name.replace("\\", "/")).name
    stem, suffix = Path(base).stem, Path(base).suffix.lower()
    stem = re.sub(r"[^A-Za-z0-9._ -]+", "_", stem).strip(" .") or "document"
    suffix = re.sub(r"[^a-z0-9.]+", "_", suffix)[:12]
    return f"{stem[:80]}{suffix}"


def save_uploads(files, upload_dir: Path) -> list[Path]:
    """Write each upload to a folder named by its content: equal names never overwrite each
    other, and uploading the same file again finds it unchanged instead of storing it twice."""
    saved = []
    for file in files:
        data = file.getvalue()
        folder = upload_dir / hashlib.sha256(data).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / safe_upload_name(file.name)
        path.write_bytes(data)
        saved.append(path)
    return saved


def upload_section(pipeline: Pipeline, collection: str) -> None:
    st.subheader("Add documents")
    files = st.file_uploader(
        "PDF, Word, HTML, Markdown or text files",
        type=sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES),
        accept_multiple_files=True,
        key=f"uploader-{st.session_state.get('upload_round', 0)}",
    )
    if not files or not st.button("Ingest", type="primary"):
        return
    paths = save_uploads(files, pipeline.settings.upload_dir / collection)
    bar = st.progress(0.0, text="Reading files…")

    def progress(p: Progress) -> None:
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s else ""
        bar.progress(p.files_done / max(1, p.files_total), text=f"{p.files_done}/{p.files_total} files, {p.passages} passages{eta}")

    waiting = st.empty()
    try:
        report = pipeline.ingest(paths, collection, on_progress=progress, on_wait=lambda message: waiting.info(message.capitalize()))
    except StoreBusyError as exc:
        st.error(f"Not stored: {exc}.")
        return
    finally:
        waiting.empty()
        bar.empty()
    # The same outcomes, in the same words, as `ingest` prints.
    for outcome in report.outcomes:
        line = f"{Path(outcome.source).name}: {outcome.describe()}"
        if outcome.status in (FAILED, SKIPPED):
            st.error(line)
        else:
            st.success(line)
    # A new uploader key clears the picked files, so they are not ingested twice.
    st.session_state["upload_round"] = st.session_state.get("upload_round", 0) + 1


def documents_section(pipeline: Pipeline, collection: str) -> None:
    records = pipeline.documents(collection)
    st.subheader(f"Documents ({len(records)})")
    if not records:
        st.info("No documents yet: upload some above, or run `ingest FOLDER`.")
        return
    for record in records:
        left, right = st.columns([5, 1])
        pages = f" · {_count(record.pages, 'page')}" if record.pages else ""
        left.markdown(f"**{inert(Path(record.source).name)}**  \n{_count(record.passages, 'passage')}{pages}")
        if right.button("", icon=":material/delete:", key=f"delete-{record.doc_id}", help=f"Delete {record.source}"):
            try:
                pipeline.delete_document(record.doc_id, collection)
            except StoreBusyError as exc:
                st.error(f"Not deleted: {exc}.")
            else:
                st.rerun()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def filter_section(pipeline: Pipeline, collection: str) -> Filter | None:
    """"Search in": restrict questions to some folders, file types or documents."""
    records = pipeline.documents(collection)
    if len(records) < 2:
        return None
    sources = [r.source for r in records]
    folders = sorted({s.rsplit("/", 1)[0] for s in sources if "/" in s})
    types = sorted({file_type(s) for s in sources} - {""})
    st.subheader("Search in")
    st.caption("Leave empty to search every document.")
    chosen_folders = st.multiselect("Folders", folders, key="filter-folders") if folders else []
    chosen_types = st.multiselect("File types", types, key="filter-types") if len(types) > 1 else []
    chosen_documents = st.multiselect("Documents", sources, key="filter-documents")
    only = Filter(documents=tuple(chosen_documents), folders=tuple(chosen_folders), types=tuple(chosen_types))
    return None if only.is_empty() else only
