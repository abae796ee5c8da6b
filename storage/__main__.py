"""Operator commands for the session store (settings from the environment and `.env`, as the bot reads them).

python -m storage status                  the account, each copy and its version, encryption, lease, commit mode
python -m storage history [--limit N]     the connection history (open, close, logged out, conflict, lease)
python -m storage archives                the archived sessions (kept 30 days) and where they are
python -m storage restore NAME [--from mongodb|folder]   put an archived session back (the current one is archived)
python -m storage reset [--yes]           archive, then delete the session everywhere (the next start pairs anew)
python -m storage export FILE             write an encrypted backup
python -m storage import FILE             replace the stored session with a backup (the current one is archived)
python -m storage import-baileys FOLDER   replace the stored session with a Baileys multi-file auth folder

Without a terminal (CI, `railway run`, `heroku run --no-tty`) nothing is asked: `reset` needs `--yes`, and the
backup passphrase comes from SESSION_EXPORT_PASSPHRASE (else SESSION_ENCRYPTION_KEY; BACKUP_PASSPHRASE is
still read, with a deprecation warning). Exit codes: 0 done, 1 storage error, 2 usage (a missing --yes or
passphrase, a bad variable).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys

from storage.archive import list_archives
from storage.backup import export_session, import_session, reset_session, restore_archive
from storage.baileys import import_baileys_folder
from storage.config import PASSPHRASE_VARIABLE, StoreConfig, backup_passphrase
from storage.errors import StorageError
from storage.history import read_history
from storage.status import render, session_status

EXIT_USAGE = 2


class UsageError(Exception):
    """Something only the operator can supply is missing (exit 2, no traceback)."""


def interactive() -> bool:
    return sys.stdin.isatty()


def passphrase(config: StoreConfig, confirm: bool) -> str:
    value = backup_passphrase() or config.encryption_key
    if value:
        return value
    if not interactive():
        raise UsageError(f"no terminal to ask for the backup passphrase: set {PASSPHRASE_VARIABLE}")
    value = getpass.getpass("Backup passphrase: ")
    if confirm and getpass.getpass("Again: ") != value:
        raise UsageError("the passphrases differ")
    return value


def confirmed(args: argparse.Namespace, question: str) -> bool:
    if args.yes:
        return True
    if not interactive():
        raise UsageError("no terminal to confirm on: pass --yes")
    return input(f"{question} [y/N] ").strip().lower() == "y"


async def run(args: argparse.Namespace, config: StoreConfig) -> None:
    if args.command == "status":
        print(render(await session_status(config)))
    elif args.command == "history":
        source, entries = await read_history(config, args.limit)
        if args.json:
            for entry in entries:
                print(json.dumps(entry.to_json()))
        else:
            print(f"session {config.session_id}: {len(entries)} entries from {source}")
            for entry in entries:
                print(entry.line())
    elif args.command == "archives":
        archives = await list_archives(config)
        print(f"session {config.session_id}: {len(archives)} archive(s), kept 30 days")
        for archive in archives:
            places = [str(archive.folder)] if archive.folder else []
            places += ["MongoDB"] if archive.in_mongodb else []
            print(f"{archive.name}  {archive.reason}  in {' and '.join(places)}")
    elif args.command == "restore":
        restored = await restore_archive(config, args.name, args.source)
        print(f"session {config.session_id}: restored archive {restored.name}")
    elif args.command == "reset":
        if not confirmed(args, f"Archive and delete session {config.session_id!r} everywhere?"):
            raise UsageError("not reset")
        await reset_session(config)
    elif args.command == "export":
        await export_session(config, args.path, passphrase(config, confirm=True))
    elif args.command == "import":
        await import_session(config, args.path, passphrase(config, confirm=False))
    elif args.command == "import-baileys":
        await import_baileys_folder(config, args.path)


def parser() -> argparse.ArgumentParser:
    main_parser = argparse.ArgumentParser(
        prog="python -m storage", description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter
    )
    sub = main_parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    history = sub.add_parser("history")
    history.add_argument("--limit", type=int, default=1000)
    history.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.add_parser("archives")
    restore = sub.add_parser("restore")
    restore.add_argument("name", help="an archive name from `python -m storage archives`")
    restore.add_argument("--from", dest="source", choices=("mongodb", "folder"))
    reset = sub.add_parser("reset")
    reset.add_argument("--yes", action="store_true", help="do not ask (needed without a terminal)")
    for name in ("export", "import", "import-baileys"):
        sub.add_parser(name).add_argument("path")
    return main_parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        from dotenv import load_dotenv

        load_dotenv(os.path.join(os.getcwd(), ".env"))
    except ImportError:  # python-dotenv is a dependency of the bot; the store works without it
        pass
    try:
        config = StoreConfig.from_env()
    except ValueError as exc:  # a malformed variable (SESSION_WEBHOOK_URL)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        asyncio.run(run(args, config))
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
