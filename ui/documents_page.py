"""The Documents page: what is in the store, sortable, with delete; and the files that failed."""

from __future__ import annotations

import datetime
from pathlib import Path

import streamlit as st

from ragapp.pipeline import Pipeline
from ragapp.store import StoreBusyError, file_type
from ui import sidebar


def page(pipeline: Pipeline, collection: str) -> None:
    st.header("Documents")
    store = pipeline.store(collection)
    records, failures = store.documents(), store.failures()
    if not records and not failures:
        st.info("No documents yet: upload some below, or run `ingest FOLDER` on this machine.")
    else:
        st.caption(
            f"{len(records)} stored, {sum(r.passages for r in records)} passages"
            + (f"; {len(failures)} could not be stored" if failures else "")
            + ". Click a column title to sort; select rows to delete them."
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
        table = st.dataframe(
            rows,
            hide_index=True,
            on_select="rerun",
            selection_mode="multi-row",
            key="documents-table",
            column_config={
                "Ingested": st.column_config.DatetimeColumn("Ingested", format="YYYY-MM-DD HH:mm"),
                "Pages": st.column_config.NumberColumn("Pages"),
            },
        )
        chosen = [records[i] for i in table.selection.rows if i < len(records)]
        if chosen:
            names = ", ".join(Path(r.source).name for r in chosen)
            if st.button(f"Delete {len(chosen)} selected ({names})", icon=":material/delete:", type="primary"):
                try:
                    for record in chosen:
                        pipeline.delete_document(record.doc_id, collection)
                except StoreBusyError as exc:
                    st.error(f"Not deleted: {exc}.")
                else:
                    st.rerun()
    st.divider()
    sidebar.upload_section(pipeline, collection)
