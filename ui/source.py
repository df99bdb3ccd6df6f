"""A cited passage where it sits: its PDF page or image file with the passage highlighted, or its
surrounding text with the passage marked; and the original file to download."""

from __future__ import annotations

import html
import logging
from pathlib import Path

import streamlit as st

from ragapp.documents import Passage
from ragapp.pages import IMAGE_SUFFIXES, PageError, text_context
from ragapp.store import StoreError
from ragapp.workspace import Workspace
from ui.render import inert


log = logging.getLogger("ragapp.app")


@st.cache_data(max_entries=64, show_spinner=False)
def _rendered(_workspace: Workspace, collection: str, doc_id: str, page: int | None, passage_text: str, modified: float) -> tuple[bytes, bool] | None:
    # Called only once the workspace has given the file (the person may read it now); modified is
    # part of the key: a changed file is rendered again.
    page_image = _workspace.page_image(collection, doc_id, page, passage_text)
    return (page_image.png, page_image.highlighted) if page_image else None


def still_shown(workspace: Workspace, collection: str, passage: Passage) -> bool:
    """Whether a source cited earlier may still be opened by this person."""
    try:
        return workspace.still_readable(collection, passage.doc_id)
    except StoreError:  # the store not answering: show_source says so in its own words
        return True


def show_source(workspace: Workspace, collection: str, passage: Passage, key: str) -> None:
    """The passage in its place, then a download button for the original file (under the name it
    was ingested or uploaded with)."""
    # Only through the workspace: a document the person may no longer read, or whose file is gone,
    # is not opened from the path its passage remembers.
    path = workspace.original(collection, passage.doc_id)
    name = Path(passage.source).name
    rendered = None
    suffix = path.suffix.lower() if path is not None else ""
    # A PDF's page, or an image file (a TIFF's frame by its page number; a single image has none).
    if path is not None and ((suffix == ".pdf" and passage.page is not None) or suffix in IMAGE_SUFFIXES):
        try:
            rendered = _rendered(workspace, collection, passage.doc_id, passage.page, passage.text, path.stat().st_mtime)
        except PageError as exc:
            st.warning(inert(f"{exc} The passage as ingested:"))
    if rendered is not None:
        png, highlighted = rendered
        where = f"Page {passage.page} of {name}" if passage.page is not None else name
        image = "page image" if suffix == ".pdf" or passage.page is not None else "image"
        note = "the cited passage is highlighted" if highlighted else f"the passage could not be located on the {image}"
        st.image(png, caption=inert(f"{where}: {note}"))
    else:
        if path is None:
            st.caption(inert(f"The original file of {name} is no longer there; the passage as ingested:"))
        _show_in_text(workspace, collection, passage)
    if path is not None:
        st.download_button(
            inert(f"Download {name}"),
            data=lambda: path.read_bytes(),  # read only when clicked
            file_name=name,
            key=f"download-{key}",
            icon=":material/download:",
        )


def _show_in_text(workspace: Workspace, collection: str, passage: Passage) -> None:
    try:
        page_text = workspace.page_text(collection, passage.doc_id, passage.page)
    except StoreError as exc:  # the store's server not answering: the passage itself is at hand
        log.warning("the text around a cited passage could not be read", exc_info=True)
        st.caption(inert(f"The text around the passage cannot be shown now ({exc}); the passage as ingested:"))
        page_text = ""
    if not page_text:
        page_text, start, end = passage.text, 0, len(passage.text)
    else:
        start, end = passage.start, passage.end
    before, cited, after = text_context(page_text, start, end)
    # Every character of the document is escaped: only our own <mark> and <div> are HTML.
    st.html(
        '<div class="ragapp-source" style="white-space: pre-wrap; font-size: 0.9rem; line-height: 1.5; '
        'max-height: 24rem; overflow-y: auto; border-left: 3px solid #ddd; padding-left: 0.75rem">'
        f"{html.escape(before)}<mark>{html.escape(cited)}</mark>{html.escape(after)}</div>"
    )
