"""The store: passages and their vectors in Chroma, files and the word index in the manifest beside it.

- collection.py  one collection (Store): writes journalled against crashes, searches, passages
- chroma.py      where the vectors are: the local Chroma server, a team's server, or this process
- server.py      the local Chroma server of a store folder, started on demand, stopped when idle
- manifest.py    SQLite on the app's host: files, failures, the journal, the word index (FTS5)
- filters.py     which documents a question may see
- lock.py        the one-writer lock
"""

from ragapp.store.chroma import EMBEDDED, LOCAL, SERVER, ChromaPlace
from ragapp.store.collection import Store, check_collection_name, open_store
from ragapp.store.errors import StoreBusyError, StoreError, StoreUnavailable
from ragapp.store.filters import Filter, Scope, file_type
from ragapp.store.lock import WriteLock
from ragapp.store.manifest import DocumentRecord, Failure, lexical_query, lexical_table

__all__ = [
    "EMBEDDED", "LOCAL", "SERVER", "ChromaPlace", "DocumentRecord", "Failure", "Filter", "Scope", "Store",
    "StoreBusyError", "StoreError", "StoreUnavailable", "WriteLock", "check_collection_name", "file_type",
    "lexical_query", "lexical_table", "open_store",
]
