#!/usr/bin/env bash
# ./run.sh          install what is missing, then open the console on the default schema
# ./run.sh test     install what is missing, then run the whole check (scripts/check.sh)
# ./run.sh test ARGS  the same install, then pytest ARGS only
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
if [ "${1:-}" = "test" ]; then
  shift
  [ $# -gt 0 ] && exec .venv/bin/python -m pytest "$@"   # just these tests
  exec bash scripts/check.sh
fi
exec .venv/bin/voice-console "$@"
