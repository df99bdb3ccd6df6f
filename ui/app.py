"""The browser app: ask the documents, read the answer as it is written, check every source;
see what is in the store and the settings in force."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ on the path, not the project root that holds this package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from ragapp.pipeline import Pipeline  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ui import ask, documents_page, settings_page  # noqa: E402

# A local icon file: a ":material/...:" page icon makes the browser fetch it from Google's servers.
ICON = Path(__file__).resolve().parent / "icon.png"
st.set_page_config(page_title="ragapp: ask your documents", page_icon=str(ICON), layout="wide")


@st.cache_resource(show_spinner="Loading the models…")
def get_pipeline(settings: Settings) -> Pipeline:
    """One pipeline (models, store) per process, shared by every browser session."""
    pipeline = Pipeline(settings)
    pipeline.warm_up()
    return pipeline


def main() -> None:
    settings = Settings.load()
    pipeline = get_pipeline(settings)
    collection = settings.collection
    pages = [
        st.Page(partial(ask.page, pipeline, collection), title="Ask", icon=":material/chat:", url_path="ask", default=True),
        st.Page(partial(documents_page.page, pipeline, collection), title="Documents", icon=":material/folder_open:", url_path="documents"),
        st.Page(partial(settings_page.page, pipeline), title="Settings", icon=":material/tune:", url_path="settings"),
    ]
    current = st.navigation(pages)
    with st.sidebar:
        st.caption(f"Collection: {collection}")
    current.run()


main()
