#!/usr/bin/env bash
# README command 2: install what is missing, then run the whole test suite.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$KTS_ROOT"
exec npx vitest run "$@"
