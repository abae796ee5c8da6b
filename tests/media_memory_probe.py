"""Run as a process of its own (tests/test_media_memory.py): stream a large document up and down through the
emulator and report the peak RSS growth while doing it, as JSON on the last line of stdout.

    python -m tests.media_memory_probe <workdir> <megabytes>

The process holds the emulator (whose media host stores blobs on disk) and two of our clients. After a
warm-up transfer (TLS, aiohttp and the cipher contexts allocated), a thread samples VmRSS every few
milliseconds while the sender uploads the file from disk and the receiver downloads it to disk; the
growth is the highest sample minus the RSS just before. Everything streams, so it stays a few MiB.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path

from loguru import logger

from whatsapp.testing import EmulatedServer
from whatsapp.testing.harness.peers import paired_python, pn

CHUNK = 1024 * 1024


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss())
            time.sleep(0.003)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def main(workdir: Path, megabytes: int) -> dict[str, object]:
    source = workdir / "big.pdf"
    with open(source, "wb") as file:
        file.write(b"%PDF-1.7\n")  # a document the page scan skips (over PDF_SCAN_LIMIT)
        for _ in range(megabytes):
            file.write(os.urandom(1_000_000))  # MB, not MiB: 100 MB stays under the default 100 MiB cap
    async with EmulatedServer() as server:
        sender = await paired_python(server, name="py")
        receiver = await paired_python(server, name="alice")
        warm = await sender.client.send_document(pn("alice"), os.urandom(2 * CHUNK), file_name="warm.bin")
        await (await receiver.message(warm.id)).download(workdir / "warm.bin")
        gc.collect()
        before = rss()
        sampler = Sampler()
        sampler.start()
        started = time.monotonic()
        sent = await sender.client.send_document(pn("alice"), source, file_name="big.pdf")
        uploaded = time.monotonic()
        message = await receiver.message(sent.id, timeout=120)
        target = await message.download(workdir / "copy.pdf")
        finished = time.monotonic()
        sampler.running = False
        sampler.join()
        await sender.close()
        await receiver.close()
    return {
        "bytes": source.stat().st_size, "identical": sha256_of(source) == sha256_of(Path(target)),
        "rss_before": before, "rss_peak": sampler.peak, "growth": sampler.peak - before,
        "upload_seconds": uploaded - started, "download_seconds": finished - uploaded,
    }


if __name__ == "__main__":
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    result = asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
    print(json.dumps(result))
