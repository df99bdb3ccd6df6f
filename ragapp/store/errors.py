"""What can go wrong with the store, in words a person can act on."""


class StoreError(Exception):
    """The store cannot be used as asked; the message says why."""


class StoreBusyError(StoreError):
    """Another writer held the store for longer than we were willing to wait."""


class StoreUnavailable(StoreError):
    """The Chroma server does not answer (stopped, unreachable, or too slow); it may come back."""
