"""The project's own protobuf definitions (WhatsApp Web field numbers) and their generated Python modules.

Regenerate with `scripts/gen_protos.sh` after editing a `.proto` file; the generated `*_pb2.py`/`.pyi` are committed.
"""
