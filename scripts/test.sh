#!/usr/bin/env bash
# README command 2: install what is missing, then run the whole test suite.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$KTS_ROOT"
# Types of the tests too (the build compiles only what ships).
npm run --silent typecheck
exec npx vitest run "$@"
