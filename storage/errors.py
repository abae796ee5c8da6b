"""Errors of the session store; each message names the cause, the file or collection, and what to do.

Every one derives from `whatsapp.errors.StorageError`, so a caller of the library catches storage
failures with one class of the library's single error tree.
"""

from __future__ import annotations

from whatsapp.errors import StorageError

__all__ = [
    "BackupError",
    "CorruptSessionError",
    "LeaseLostError",
    "LeaseNotHeldError",
    "MongoUnavailableError",
    "StorageError",
    "WrongEncryptionKeyError",
]


class CorruptSessionError(StorageError):
    """A stored file or document is unreadable; the store refuses to start rather than pair anew."""


class WrongEncryptionKeyError(StorageError):
    """SESSION_ENCRYPTION_KEY does not open the stored session (or is missing, or is set for plain data)."""


class MongoUnavailableError(StorageError):
    """MongoDB could not be reached (or did not answer in time)."""


class LeaseLostError(StorageError):
    """Another process owns this session now; this one must stop connecting and writing."""


class LeaseNotHeldError(StorageError):
    """A write was attempted before `acquire_lease()`."""


class BackupError(StorageError):
    """An export file could not be written or an import file could not be read."""
