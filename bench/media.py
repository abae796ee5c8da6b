"""Media transfer throughput: our client and Baileys (7.0.0-rc14) on the same emulator, side by side.

    .venv/bin/python bench/media.py [--mb 20] [--rounds 3]

Each round uploads one --mb document (encrypt + HTTPS POST to the emulator's media host) and downloads it
again (HTTPS GET + verify + decrypt), once with our client (`Client.upload_media` from a file,
`Client.download_media` to a file) and once with Baileys in its Node process (encryptedStream +
waUploadToServer, downloadContentFromMessage). The figures are MB/s of plaintext, best of the rounds;
everything (clients, emulator, TLS on loopback) shares this machine's cores, and our client shares its
Python process (one GIL) with the emulator's media host, while Baileys runs in a process of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds a signal.py that would shadow the standard library's `signal` (asyncio imports it).
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import hashlib  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from loguru import logger  # noqa: E402

from whatsapp.media_message import Downloadable  # noqa: E402
from whatsapp.testing import EmulatedServer  # noqa: E402
from whatsapp.testing.harness.baileys import BaileysHarness, pair_baileys_by_qr  # noqa: E402
from whatsapp.testing.harness.peers import PEOPLE, paired_python  # noqa: E402


async def run(megabytes: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "doc.bin"
        with open(source, "wb") as file:
            for _ in range(megabytes):
                file.write(os.urandom(1_000_000))
        size = source.stat().st_size
        expected = hashlib.sha256(source.read_bytes()).hexdigest()
        async with EmulatedServer() as server:
            py = await paired_python(server)
            phone, name = PEOPLE["alice"]
            server.create_account(phone, push_name=name)
            alice = BaileysHarness(server.url, server.root_public_key, work / "alice",
                                   media_ca=server.media.tls.ca_path, media_host=server.media.hostnames[0])
            await alice.start()
            try:
                await pair_baileys_by_qr(server, alice, phone)
                ours: list[tuple[float, float]] = []
                theirs: list[tuple[float, float]] = []
                for _ in range(rounds):
                    started = time.perf_counter()
                    upload = await py.client.upload_media(source, "document")
                    uploaded = time.perf_counter()
                    item = Downloadable("document", upload.direct_path, upload.url, upload.media_key,
                                        upload.file_enc_sha256, upload.file_sha256, upload.file_length)
                    target = await py.client.download_media(item, work / "ours.bin", max_bytes=None)
                    ours.append((uploaded - started, time.perf_counter() - uploaded))
                    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
                    result = await alice.command("media_roundtrip", path=str(source), kind="document", timeout=600)
                    assert result["sha256"] == expected and result["size"] == size, result
                    theirs.append((result["uploadSeconds"], result["downloadSeconds"]))
            finally:
                await alice.stop()
                await py.close()

    def rate(seconds: float) -> float:
        return size / 1e6 / seconds

    print(f"media transfer, {size / 1e6:.0f} MB document, best of {rounds} (MB/s of plaintext)")
    print(f"{'':10}{'upload':>12}{'download':>12}")
    for label, times in (("python", ours), ("baileys 7", theirs)):
        print(f"{label:10}{rate(min(t[0] for t in times)):>12.1f}{rate(min(t[1] for t in times)):>12.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=20, help="document size in MB (default 20)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    asyncio.run(run(args.mb, args.rounds))


if __name__ == "__main__":
    main()
