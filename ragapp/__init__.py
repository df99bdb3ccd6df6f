"""ragapp: ask questions of your own documents, answered by a local model that cites its sources."""

import os

# Nothing may be fetched from a model hub or reported anywhere: everything runs from local files.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# The tokenizer's own thread pool warns (and can deadlock) after the app or ingest forks.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

__version__ = "0.1.0"
