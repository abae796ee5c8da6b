"""Run the emulated WhatsApp server for a person: `python -m whatsapp.testing --account 15550001111`.

It prints the URL to point a client at and the root public key the client must trust, then reads
commands (type `help`): scan a companion's QR, enter a pairing code, list or unlink devices, send a message
as a contact, inject faults. Without a terminal on standard input (`&`, Docker, CI) it runs the commands
piped in, if any, then serves until SIGTERM or SIGINT; `--no-prompt` never reads standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
import threading

from loguru import logger

from whatsapp.jid import JID
from whatsapp.testing.contact import Contact
from whatsapp.testing.server import EmulatedServer
from whatsapp.testing.settings import DEFAULT_MIN_VERSION, QRTimings
from whatsapp.version import parse_version

HELP = """commands:
  account PHONE                  create an account (digits, international form)
  scan PHONE QR                  PHONE's phone scans the QR string a companion shows
  code PHONE CODE                PHONE's phone enters the pairing code a companion shows
  devices [PHONE]                list accounts and their linked devices
  unlink PHONE DEVICE_ID         log a companion out from the phone (it gets 401 device_removed)
  send FROM TO TEXT              FROM (an account, created if missing) sends TEXT to TO (a phone number or a
                                 group JID), through a companion linked to FROM for this (the first send links it)
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


def _target(text: str) -> JID:
    return JID.parse(text) if "@" in text else JID(text.removeprefix("+"), "s.whatsapp.net")


async def _send(server: EmulatedServer, contacts: dict[str, Contact], sender: str, to: str, text: str) -> None:
    sender = sender.removeprefix("+")
    contact = contacts.get(sender)
    if contact is None:
        contact = contacts[sender] = await Contact.link(server, sender)
    result = await contact.client.send_text(_target(to), text)
    print(f"sent {result.id} from {sender} to {to}")


async def _command(server: EmulatedServer, words: list[str], contacts: dict[str, Contact]) -> bool:
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
    elif name == "send" and len(args) >= 3:
        await _send(server, contacts, args[0], args[1], " ".join(args[2:]))
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


async def _input(prompt: str) -> str | None:
    """One line of standard input, None at its end. A daemon thread rather than asyncio.to_thread: a stop
    signal must not wait for a line that may never come (the default executor is joined at exit)."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def read() -> None:
        try:
            line: str | None = input(prompt)
        except EOFError:
            line = None
        def deliver() -> None:
            if not answer.done():
                answer.set_result(line)

        if not loop.is_closed():
            loop.call_soon_threadsafe(deliver)

    threading.Thread(target=read, name="emulator-prompt", daemon=True).start()
    return await answer


async def _prompt(server: EmulatedServer, contacts: dict[str, Contact], interactive: bool) -> bool:
    """Read and run commands until quit (False) or the end of input (True)."""
    while True:
        line = await _input("emulator> " if interactive else "")
        if line is None:
            return True
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"error: {exc}")
            continue
        if not words:
            continue
        try:
            if not await _command(server, words, contacts):
                return False
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
        contacts: dict[str, Contact] = {}
        try:
            await _serve(server, contacts, prompt=not args.no_prompt)
        finally:
            for contact in contacts.values():
                await contact.close()


async def _serve(server: EmulatedServer, contacts: dict[str, Contact], prompt: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    interactive = prompt and sys.stdin.isatty()
    if interactive:
        print("type 'help' for commands")
        sys.stdout.flush()
    prompting = asyncio.ensure_future(_prompt(server, contacts, interactive)) if prompt else None
    stopped = asyncio.ensure_future(stop.wait())
    try:
        if prompting is not None:
            await asyncio.wait({prompting, stopped}, return_when=asyncio.FIRST_COMPLETED)
            # A terminal's end of input (Ctrl-D) or `quit` ends the emulator; a pipe's end leaves it serving.
            if prompting.done() and (interactive or not prompting.result()):
                return
            if prompting.done():
                logger.info("emulator: standard input ended (not a terminal): serving until SIGTERM")
        else:
            logger.info("emulator: serving without a prompt until SIGTERM")
        await stopped
        logger.info("emulator: stop signal received")
    finally:
        stopped.cancel()
        if prompting is not None and not prompting.done():
            prompting.cancel()  # its reading thread is a daemon: it does not hold the exit


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
