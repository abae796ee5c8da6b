"""Run the emulated WhatsApp server for a person: `python -m whatsapp.testing --account 15550001111`.

It prints the URL to point a client at and the root public key the client must trust, then reads
commands (type `help`): scan a companion's QR, enter a pairing code, list or unlink devices, inject faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys

from loguru import logger

from whatsapp.testing.server import EmulatedServer
from whatsapp.testing.settings import DEFAULT_MIN_VERSION, QRTimings
from whatsapp.version import parse_version

HELP = """commands:
  account PHONE                  create an account (digits, international form)
  scan PHONE QR                  PHONE's phone scans the QR string a companion shows
  code PHONE CODE                PHONE's phone enters the pairing code a companion shows
  devices [PHONE]                list accounts and their linked devices
  unlink PHONE DEVICE_ID         log a companion out from the phone (it gets 401 device_removed)
  fault KIND PHONE DEVICE_ID     KIND: 515, 503, 401, 440, drop, silence
  help | quit"""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m whatsapp.testing", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account", action="append", default=[], metavar="PHONE", help="create an account (repeat)")
    parser.add_argument("--qr-first", type=float, default=60.0, help="seconds the first QR ref stays valid")
    parser.add_argument("--qr-next", type=float, default=20.0, help="seconds each following ref stays valid")
    parser.add_argument("--no-prompt", action="store_true", help="serve without reading commands")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--min-version", type=parse_version, metavar="A.B.C", default=DEFAULT_MIN_VERSION,
                        help="refuse older WA Web versions with <failure reason=405> (default: %(default)s)")
    parser.add_argument("--no-enforce-tokens", dest="enforce_tokens", action="store_false",
                        help="deliver 1:1 messages that lack the trust token they need (the real server "
                        "refuses them with ack error 463, and so does the emulator by default)")
    return parser.parse_args(argv)


async def _command(server: EmulatedServer, words: list[str]) -> bool:
    """Run one command; False means quit."""
    name, args = words[0].lower(), words[1:]
    if name in ("quit", "exit"):
        return False
    if name == "help":
        print(HELP)
    elif name == "account" and len(args) == 1:
        account = server.create_account(args[0])
        print(f"account {account.phone_number} (lid {account.lid})")
    elif name == "scan" and len(args) == 2:
        device = await server.account(args[0]).phone.scan_qr(args[1])
        print(f"linked {device.jid}")
    elif name == "code" and len(args) == 2:
        linked = await server.account(args[0]).phone.enter_pairing_code(args[1])
        print(f"linked {linked.jid if linked else '?'}")
    elif name == "devices":
        accounts = [server.account(args[0])] if args else list(server.state.accounts.values())
        for account in accounts:
            print(f"{account.phone_number} (lid {account.lid})")
            for device in account.companions():
                state = "online" if device.online else "offline"
                print(f"  {device.device_id}: {device.platform or '?'} {device.push_name or ''} [{state}]")
    elif name == "unlink" and len(args) == 2:
        device = await server.account(args[0]).phone.unlink(int(args[1]))
        print(f"unlinked {device.jid}")
    elif name == "fault" and len(args) == 3:
        device = server.account(args[1]).devices[int(args[2])]
        kind, faults = args[0], server.faults
        actions = {
            "515": faults.restart_required, "503": faults.service_unavailable,
            "401": faults.device_removed, "440": faults.replaced,
        }
        if kind in actions:
            await actions[kind](device)
        elif kind == "drop":
            faults.drop(device)
        elif kind == "silence":
            faults.silence(device)
        else:
            print(f"unknown fault {kind!r}")
    else:
        print(HELP)
    return True


async def _prompt(server: EmulatedServer) -> None:
    while True:
        try:
            line = await asyncio.to_thread(input, "emulator> ")
        except EOFError:
            return
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"error: {exc}")
            continue
        if not words:
            continue
        try:
            if not await _command(server, words):
                return
        except Exception as exc:  # a typo must not stop the server
            print(f"error: {exc}")


async def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level.upper())
    timings = QRTimings(first=args.qr_first, following=args.qr_next)
    async with EmulatedServer(args.host, args.port, qr_timings=timings, min_version=args.min_version) as server:
        server.settings.tctoken_enforcement = args.enforce_tokens
        for phone in args.account:
            server.create_account(phone)
        print(f"url: {server.url}")
        print(f"root public key: {server.root_public_key.hex()}")
        for account in server.state.accounts.values():
            print(f"account {account.phone_number} (lid {account.lid})")
        sys.stdout.flush()
        if args.no_prompt:
            await asyncio.Event().wait()
        else:
            print("type 'help' for commands")
            await _prompt(server)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
