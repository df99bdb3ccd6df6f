"""The browser app: sign in, ask the documents of a collection you may read, read the answer as it
is written, check every source; see and manage what is in the store, and (admins) who may do what."""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ on the path, not the project root that holds this package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st  # noqa: E402

from ragapp.pipeline import Pipeline  # noqa: E402
from ragapp.settings import Settings  # noqa: E402
from ragapp.workspace import Door, Workspace  # noqa: E402
from ui import admin_page, ask, documents_page, settings_page, signin  # noqa: E402

def _log_to_stderr() -> None:
    """The app's log is its standard error, with times: what fails while answering is written there
    with its traceback (the page shows words only)."""
    logger = logging.getLogger("ragapp")
    if not any(getattr(h, "ragapp", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.ragapp = True
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


_log_to_stderr()

# A local icon file: a ":material/...:" page icon makes the browser fetch it from Google's servers.
ICON = Path(__file__).resolve().parent / "icon.png"
st.set_page_config(page_title="ragapp: ask your documents", page_icon=str(ICON), layout="wide")


@st.cache_resource(show_spinner="Loading the models…")
def get_pipeline(settings: Settings) -> Pipeline:
    """One pipeline (models, store, accounts) per process, shared by every browser session."""
    pipeline = Pipeline(settings)
    pipeline.warm_up()
    return pipeline


def main() -> None:
    settings = Settings.load()
    workspace = signin.current_workspace(Door(get_pipeline(settings)))  # stops here until someone signs in
    user = workspace.user
    with st.sidebar:
        signin.sign_out_button(workspace)
        collection = _pick_collection(workspace)
    if collection is None:
        st.header("No collections for you yet")
        st.info("Ask an administrator to give you access to a collection of documents.")
        return
    pages = [
        st.Page(partial(ask.page, workspace, collection), title="Ask", icon=":material/chat:", url_path="ask", default=True),
        st.Page(partial(documents_page.page, workspace, collection), title="Documents", icon=":material/folder_open:", url_path="documents"),
    ]
    if user.is_admin:  # readers and editors never get these pages; the library refuses them too
        pages.append(st.Page(partial(settings_page.page, workspace), title="Settings", icon=":material/tune:", url_path="settings"))
        pages.append(st.Page(partial(admin_page.page, workspace), title="People", icon=":material/group:", url_path="people"))
    current = st.navigation(pages)
    current.run()


def _pick_collection(workspace: Workspace) -> str | None:
    """Among the collections this person may read; a change starts a new conversation."""
    choices = workspace.collections()
    if not choices:
        return None
    if len(choices) == 1:
        st.caption(f"Collection: {choices[0]}")
        return choices[0]
    switch = st.session_state.pop("switch-collection", None)  # an earlier conversation was opened
    if switch in choices:
        st.session_state["collection"] = switch
    chosen = st.selectbox("Collection", choices, key="collection", on_change=ask.new_conversation)
    # Whatever came back from the browser is checked again against the list it was offered.
    return chosen if chosen in choices else choices[0]


main()
