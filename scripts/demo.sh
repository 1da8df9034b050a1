#!/usr/bin/env bash
# README command 1: install what is missing, then run keylime-ts's main job.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec node "$KTS_ROOT/bin/keylime-ts" demo "$@"
