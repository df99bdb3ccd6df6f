"""The Documents page: what is in the collection, sortable, with delete for those who may write
it; and the files that failed."""

from __future__ import annotations

import datetime
from pathlib import Path

import streamlit as st

from ragapp.store import file_type
from ragapp.workspace import Workspace
from ui import deleting, sidebar
from ui.render import inert


SHOWN = "documents-shown-ids"


def selected_documents(rows: list[int], shown_ids: list[str], records: list) -> list:
    """The documents behind the selected row positions of the table as it was shown (shown_ids, in
    its order), among those still stored; a position past the shown documents is a failure's row."""
    current = {r.doc_id: r for r in records}
    ids = [shown_ids[i] for i in rows if 0 <= i < len(shown_ids)]
    return [current[i] for i in dict.fromkeys(ids) if i in current]


def page(workspace: Workspace, collection: str) -> None:
    st.header(f"Documents of {collection}")
    may_write = workspace.may_write(collection)
    deleting.done_message()
    records, failures = workspace.documents(collection), workspace.failures(collection)
    if not records and not failures:
        if may_write:
            st.info("No documents yet: upload some below, or run `ingest --collection NAME FOLDER` on this machine.")
        else:
            st.info("No documents yet: someone who may add documents to this collection has to add some.")
    else:
        st.caption(
            f"{len(records)} stored, {sum(r.passages for r in records)} passages"
            + (f"; {len(failures)} could not be stored" if failures else "")
            + (". Click a column title to sort; select rows to delete them." if may_write else ". Click a column title to sort.")
        )
        rows = [
            {
                "Name": r.source,
                "Type": file_type(r.source),
                "Pages": r.pages or None,
                "Passages": r.passages,
                "Ingested": datetime.datetime.fromtimestamp(r.ingested_at),
                "Outcome": "stored",
            }
            for r in records
        ] + [
            {
                "Name": f.source or f.doc_id,
                "Type": file_type(f.source),
                "Pages": None,
                "Passages": 0,
                "Ingested": datetime.datetime.fromtimestamp(f.failed_at) if f.failed_at else None,
                "Outcome": f"failed: {f.reason}",
            }
            for f in failures
        ]
        # The rows a selection refers to are those the browser was shown, drawn by the previous run;
        # the list may have changed since (someone uploaded or deleted). Rows are kept by document id.
        shown_before = st.session_state.get(SHOWN, [])
        st.session_state[SHOWN] = [r.doc_id for r in records]
        table = st.dataframe(
            rows,
            hide_index=True,
            on_select="rerun" if may_write else "ignore",
            selection_mode="multi-row",
            key="documents-table",
            column_config={
                "Ingested": st.column_config.DatetimeColumn("Ingested", format="YYYY-MM-DD HH:mm"),
                "Pages": st.column_config.NumberColumn("Pages"),
            },
        )
        chosen = selected_documents(table.selection.rows, shown_before, records) if may_write else []
        if chosen:
            names = ", ".join(Path(r.source).name for r in chosen)
            if st.button(inert(f"Delete {len(chosen)} selected ({names})"), icon=":material/delete:", type="primary"):
                deleting.ask_to_delete(collection, chosen)
                st.rerun()
        if may_write:
            deleting.confirmation(workspace, collection, "page-delete")
    if may_write:
        st.divider()
        sidebar.upload_section(workspace, collection)
