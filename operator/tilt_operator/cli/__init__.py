"""The command lines: ``tilt-operator`` (run the operator, or a local cluster with it), ``kubectl tilt``
(add extensions with the Tiltfile's API) and ``tilt`` (Tilt's verbs on this API server, for scripts)."""
