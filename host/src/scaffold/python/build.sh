#!/usr/bin/env bash
# Builds {{name}}.wasm, the component nethook loads, with componentize-py
# (pip install componentize-py==0.25.1): app.py and the WIT in wit/,
# world `hook`. COMPONENTIZE_PY overrides the command.
set -euo pipefail
cd "$(dirname "$0")"
"${COMPONENTIZE_PY:-componentize-py}" -d wit -w hook componentize app -o {{name}}.wasm
echo "built $(pwd)/{{name}}.wasm"
