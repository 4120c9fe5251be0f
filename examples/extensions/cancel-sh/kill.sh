#!/usr/bin/env bash
# Send SIGTERM to the process group of the Cmd named $1, if it is running.
set -euo pipefail
pid=$(tilt get cmd "$1" -o jsonpath='{.status.running.pid}')
if [[ -n "$pid" ]]; then
  kill -TERM -- "-$pid"
  echo "sent SIGTERM to $1 (process group $pid)"
fi
