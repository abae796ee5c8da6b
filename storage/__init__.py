"""Session storage: a crash-safe local folder and MongoDB, written together, one process per session.

store = await open_store(StoreConfig.from_env())   # MongoDB first, then the folder, else new credentials
await store.acquire_lease()                          # waits while another instance runs this session
... client uses store as its AuthState; watch store.lease_lost ...
await store.close()                                  # flush, replay to MongoDB, release the lease
"""

from storage.backup import export_session, import_session, reset_session
from storage.baileys import import_baileys_folder
from storage.config import StoreConfig
from storage.errors import (
    BackupError,
    CorruptSessionError,
    LeaseLostError,
    LeaseNotHeldError,
    MongoUnavailableError,
    StorageError,
    WrongEncryptionKeyError,
)
from storage.monitor import SessionMonitor
from storage.session import open_store
from storage.store import SessionStore

__all__ = [
    "BackupError",
    "CorruptSessionError",
    "LeaseLostError",
    "LeaseNotHeldError",
    "MongoUnavailableError",
    "SessionMonitor",
    "SessionStore",
    "StorageError",
    "StoreConfig",
    "WrongEncryptionKeyError",
    "export_session",
    "import_baileys_folder",
    "import_session",
    "open_store",
    "reset_session",
]
