"""Drivers shared by the tests and the benchmarks: real peers and outside processes, set up the same way.

Plain library code (no pytest): `tests/fixtures/*` wrap these in fixtures, `bench/*` call them directly,
so a benchmark never imports a test module.

- `whatsapp.testing.harness.nodejs`: run the pinned Node.js oracles under tests/node (Baileys, libsignal).
- `whatsapp.testing.harness.codec_json`: a binary node in the JSON shape the codec oracles read.
- `whatsapp.testing.harness.baileys`: a real Baileys client in a Node process, driven over JSON lines.
- `whatsapp.testing.harness.peers`: a Python client on the emulator that records what it raised and sent.
"""
