#!/usr/bin/env bash
# Regenerate whatsapp/proto/*_pb2.py and .pyi from the .proto files (run after editing one).
# Imports inside the .proto files are written as "whatsapp/proto/x.proto" so that, compiled from the
# repository root, the generated modules import each other as `from whatsapp.proto import x_pb2`.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m grpc_tools.protoc -I . --python_out=. --pyi_out=. whatsapp/proto/*.proto
echo "generated: $(ls whatsapp/proto/*_pb2.py | tr '\n' ' ')"
