"""The `ingest` console script."""
