"""Operator commands for the session store (settings from the environment, as the bot reads them).

python -m storage status                      where the session would load from, its version and key count
python -m storage reset                       delete the session everywhere (the next start pairs anew)
python -m storage export FILE                 write an encrypted backup (passphrase from BACKUP_PASSPHRASE or asked)
python -m storage import FILE                 replace the stored session with a backup
python -m storage import-baileys FOLDER       replace the stored session with a Baileys multi-file auth folder
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from storage import (
    StorageError,
    StoreConfig,
    export_session,
    import_baileys_folder,
    import_session,
    open_store,
    reset_session,
)


def passphrase(confirm: bool) -> str:
    value = os.environ.get("BACKUP_PASSPHRASE") or getpass.getpass("Backup passphrase: ")
    if confirm and not os.environ.get("BACKUP_PASSPHRASE") and getpass.getpass("Again: ") != value:
        raise SystemExit("the passphrases differ")
    return value


async def run(args: argparse.Namespace) -> None:
    try:
        from dotenv import load_dotenv

        load_dotenv()
    except ImportError:  # python-dotenv is a dependency of the bot; the store works without it
        pass
    config = StoreConfig.from_env()
    if args.command == "status":
        store = await open_store(config)
        print(
            f"session {config.session_id}: from {store.loaded_from}, version {store.version}, "
            f"{len(store.snapshot().keys)} keys, paired={store.creds.paired}"
        )
        await store.close()
    elif args.command == "reset":
        if not args.yes and input(f"Delete session {config.session_id!r} everywhere? [y/N] ").lower() != "y":
            raise SystemExit("not reset")
        await reset_session(config)
    elif args.command == "export":
        await export_session(config, args.path, passphrase(confirm=True))
    elif args.command == "import":
        await import_session(config, args.path, passphrase(confirm=False))
    elif args.command == "import-baileys":
        await import_baileys_folder(config, args.path)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    reset = sub.add_parser("reset")
    reset.add_argument("--yes", action="store_true")
    for name in ("export", "import", "import-baileys"):
        sub.add_parser(name).add_argument("path")
    args = parser.parse_args()
    try:
        asyncio.run(run(args))
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
