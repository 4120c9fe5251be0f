#!/usr/bin/env bash
# Watch every Cmd and reconcile its cancel button whenever it changes (or goes).
set -euo pipefail
cd "$(dirname "$0")"
echo "operator:cancel-sh watches Cmds and gives each local_resource a Cancel button"
tilt get cmd --watch -o name | while read -r full_name; do
  ./reconcile.sh "${full_name#cmd.tilt.dev/}" || echo "reconcile of ${full_name} failed; the next change retries"
done
