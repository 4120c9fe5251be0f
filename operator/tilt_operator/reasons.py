"""Every reason a Ready condition can give, named ``<Thing><Outcome>`` as Flux names its own.

``kubectl get <kind> -o yaml`` shows them in ``status.conditions``; scripts may match on them,
so they only ever change on purpose.
"""

from __future__ import annotations

# ExtensionRepo.
URL_INVALID = "URLInvalid"
REF_INVALID = "RefInvalid"
SPEC_INVALID = "SpecInvalid"
FETCH_FAILED = "FetchFailed"
CHECKOUT_READY = "CheckoutReady"
# The last fetch failed and an older checkout is served.
CHECKOUT_STALE = "CheckoutStale"
DIRECTORY_READY = "DirectoryReady"
# spec.secretRef: the Secret is missing, holds no usable keys, or its credentials were refused;
# or an ssh server's host key is not in its known_hosts.
SECRET_NOT_FOUND = "SecretNotFound"
SECRET_INVALID = "SecretInvalid"
AUTHENTICATION_FAILED = "AuthenticationFailed"
HOST_KEY_MISMATCH = "HostKeyMismatch"

# Extension.
REPO_NOT_FOUND = "RepoNotFound"
REPO_NOT_READY = "RepoNotReady"
PATH_INVALID = "PathInvalid"
TILTFILE_PENDING = "TiltfilePending"
TILTFILE_SUCCEEDED = "TiltfileSucceeded"
TILTFILE_FAILED = "TiltfileFailed"

# Tiltfile.
RUN_SUCCEEDED = "RunSucceeded"
RUN_FAILED = "RunFailed"

# Cmd.
PROCESS_RUNNING = "ProcessRunning"
PROCESS_WAITING = "ProcessWaiting"
PROCESS_EXITED = "ProcessExited"
PROCESS_START_FAILED = "ProcessStartFailed"
EXEC_DISABLED = "ExecDisabled"
