#!/usr/bin/env bash
# Desired state for one Cmd: a Cancel button (enabled while it has a pid) and a kill Cmd behind it.
set -euo pipefail
cd "$(dirname "$0")"
name="$1"
button="$name:cancel"
killer="$name:cancel-kill"

cmd=$(tilt get cmd "$name" -o json --ignore-not-found)
if [[ -z "$cmd" ]]; then
  tilt delete uibutton "$button" --ignore-not-found
  tilt delete cmd "$killer" --ignore-not-found
  exit 0
fi

# Only the Cmds a Tiltfile declared (local_resources), and never this extension's own.
[[ $(jq -r '.metadata.ownerReferences[0].kind // ""' <<<"$cmd") == "Tiltfile" ]] || exit 0
resource=$(jq -r '.metadata.annotations["tilt.dev/resource"] // ""' <<<"$cmd")
[[ -n "$resource" && "$resource" != "operator:cancel-sh" ]] || exit 0

pid=$(tilt get cmd "$name" -o jsonpath='{.status.running.pid}')
disabled=true
[[ -n "$pid" ]] && disabled=false

tilt apply -f - <<YAML
apiVersion: tilt.dev/v1alpha1
kind: UIButton
metadata:
  name: "$button"
  annotations: {tilt.dev/resource: "$resource"}
spec:
  text: Cancel
  iconName: cancel
  disabled: $disabled
  location: {componentType: resource, componentID: "$resource"}
---
apiVersion: tilt.dev/v1alpha1
kind: Cmd
metadata:
  name: "$killer"
  annotations: {tilt.dev/resource: "$resource"}
spec:
  args: ["./kill.sh", "$name"]
  dir: "$PWD"
  startOn: {uiButtons: ["$button"]}
YAML
