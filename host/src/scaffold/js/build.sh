#!/usr/bin/env bash
# Builds {{name}}.wasm, the component nethook loads, with componentize-js
# 0.23.0 (npm install): hook.js and the WIT in wit/, world `hook`, without
# the http and fetch-event features nethook does not provide.
# COMPONENTIZE_JS overrides the command.
set -euo pipefail
cd "$(dirname "$0")"
"${COMPONENTIZE_JS:-npx componentize-js}" --wit wit -n hook -o {{name}}.wasm hook.js -d http -d fetch-event
echo "built $(pwd)/{{name}}.wasm"
