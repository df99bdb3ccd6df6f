"""Deleting documents, in two steps: a click asks, a second click on a confirmation that names
every file deletes exactly those documents, by id (never by a row position that another
person's upload or delete may have shifted meanwhile)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ragapp.store import StoreError
from ragapp.workspace import Workspace
from ui.render import inert

PENDING = "delete-pending"


def ask_to_delete(collection: str, records: list) -> None:
    """Remember what is to be deleted (ids and names as shown now) and ask on the next run."""
    st.session_state[PENDING] = {
        "collection": collection,
        "documents": [(r.doc_id, Path(r.source).name) for r in records],
    }


def confirmation(workspace: Workspace, collection: str, key: str) -> None:
    """The pending request's confirmation, where one is pending for this collection."""
    pending = st.session_state.get(PENDING)
    if not pending or pending["collection"] != collection:
        return
    documents = pending["documents"]
    names = ", ".join(name for _id, name in documents)
    count = f"{len(documents)} document{'s' if len(documents) != 1 else ''}"
    st.warning(inert(f"Delete {count} from {collection}: {names}? Their passages go too; this cannot be undone."))
    yes, no = st.columns(2)
    if yes.button(f"Delete {count}", type="primary", key=f"{key}-confirm", icon=":material/delete:"):
        st.session_state.pop(PENDING, None)
        gone = []
        try:
            for doc_id, name in documents:
                if workspace.delete_document(doc_id, collection):
                    gone.append(name)
        except StoreError as exc:  # busy, or the store's server not answering
            st.error(f"Not deleted: {exc}.")
            return
        st.session_state["delete-done"] = f"Deleted {', '.join(gone)}." if gone else "Nothing deleted: already gone."
        st.rerun()
    if no.button("Cancel", key=f"{key}-cancel"):
        st.session_state.pop(PENDING, None)
        st.rerun()


def done_message() -> None:
    done = st.session_state.pop("delete-done", None)
    if done:
        st.success(inert(done))
