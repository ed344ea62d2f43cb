#!/usr/bin/env bash
# ./run.sh          install what is missing, then open the console on the default schema
# ./run.sh test     install what is missing, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
if [ "${1:-}" = "test" ]; then
  shift
  exec .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/voice-console "$@"
