"""The People page (admins only): accounts, roles and who may read or write each collection; the
same as `ragapp users` and `ragapp grant/revoke`. Every action is checked again by the library."""

from __future__ import annotations

import streamlit as st

from ragapp.accounts import ACCESS, ROLES, AccessDenied, AccountError
from ragapp.store import StoreError
from ragapp.workspace import Workspace
from ui.render import inert


def page(workspace: Workspace) -> None:
    st.header("People and access")
    try:
        users, grants = workspace.users(), workspace.grants()
    except AccessDenied:
        st.error("Only administrators manage people and access.")
        return
    if workspace.settings.sign_in == "none":
        st.info(
            "Sign-in is off (RAGAPP_SIGN_IN=none): everyone who reaches this app may do everything. "
            "Set RAGAPP_SIGN_IN=accounts (or proxy) to make these accounts and grants count."
        )
    by_user: dict[str, list[str]] = {}
    for name, collection, access in grants:
        by_user.setdefault(name, []).append(f"{collection} ({access})")
    st.dataframe(
        [
            {
                "Name": user.name,
                "Role": user.role,
                "Collections": "all" if user.is_admin else ", ".join(by_user.get(user.name, [])) or "none",
                "Password": "set" if user.has_password else "none (proxy sign-in)",
            }
            for user in users
        ],
        hide_index=True,
    )
    names = [user.name for user in users]
    left, right = st.columns(2)
    with left:
        _add_user(workspace)
        if names:
            _change_user(workspace, names)
    with right:
        if names:
            _grants(workspace, names, grants)
    _audit_log(workspace)


def _audit_log(workspace: Workspace) -> None:
    """Who signed in, who failed to, and what administrators changed (`ragapp audit`)."""
    st.subheader("Audit log")
    events = workspace.audit_log(limit=200)
    if not events:
        st.caption("Nothing recorded yet.")
        return
    st.dataframe(
        [
            {"When": e.when(), "Who": e.actor, "What": e.action, "To": e.target, "Detail": e.detail, "From": e.address}
            for e in events
        ],
        hide_index=True,
        key="audit-log",
    )


def _act(action, done: str) -> None:
    """Run an admin action; show the library's reason when it refuses."""
    try:
        action()
    except (AccountError, AccessDenied, StoreError) as exc:
        st.error(inert(str(exc).capitalize()))
    else:
        st.session_state["people-done"] = done
        st.rerun()


def _add_user(workspace: Workspace) -> None:
    done = st.session_state.pop("people-done", None)
    if done:
        st.success(inert(done))
    st.subheader("Add someone")
    with st.form("add-user", clear_on_submit=True):
        name = st.text_input("Name", key="new-user-name")
        role = st.selectbox("Role", ROLES, index=ROLES.index("reader"), key="new-user-role")
        password = st.text_input("Password (empty: proxy sign-in only)", type="password", key="new-user-password")
        submitted = st.form_submit_button("Add", type="primary")
    if submitted:
        _act(lambda: workspace.add_user(name.strip(), role, password or None), f"Added {name.strip()} as {role}.")


def _change_user(workspace: Workspace, names: list[str]) -> None:
    st.subheader("Change or remove someone")
    name = st.selectbox("Person", names, key="change-user")
    role = st.selectbox("New role", ROLES, key="change-role")
    if st.button("Change role", key="change-role-button"):
        _act(lambda: workspace.set_role(name, role), f"{name} is now {role}.")
    password = st.text_input("New password", type="password", key="change-password")
    if st.button("Set password", key="change-password-button"):
        _act(lambda: workspace.set_password(name, password), f"Password of {name} changed.")
    if st.button(f"Remove {name}", key="remove-user-button", icon=":material/person_remove:"):
        _act(lambda: workspace.remove_user(name), f"Removed {name}, with their grants and conversations.")


def _grants(workspace: Workspace, names: list[str], grants: list[tuple[str, str, str]]) -> None:
    st.subheader("Give access to a collection")
    name = st.selectbox("Person", names, key="grant-user")
    known = workspace.known_collections()
    collection = st.selectbox("Collection", known + ["(a new collection)"], key="grant-collection")
    if collection == "(a new collection)":
        collection = st.text_input("New collection name (3-63 letters, digits, '.', '_' or '-')", key="grant-new").strip()
    access = st.radio("Access", ACCESS, horizontal=True, key="grant-access",
                      help="read: ask questions; write: also add and delete documents (editors and admins)")
    if st.button("Grant", type="primary", key="grant-button") and collection:
        _act(lambda: workspace.grant(name, collection, access), f"{name} may now {access} {collection}.")
    if grants:
        st.subheader("Take access away")
        labels = {f"{user}: {collection} ({access})": (user, collection) for user, collection, access in grants}
        chosen = st.selectbox("Grant", list(labels), key="revoke-grant")
        if st.button("Revoke", key="revoke-button", icon=":material/block:"):
            user, collection = labels[chosen]
            _act(lambda: workspace.revoke(user, collection), f"{user} no longer has access to {collection}.")
