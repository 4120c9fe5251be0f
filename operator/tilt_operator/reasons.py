"""Every reason a condition can give, named ``<Thing><Outcome>`` as Flux names its own.

``kubectl get <kind> -o yaml`` shows them in ``status.conditions``; scripts may match on them,
so they only ever change on purpose. :data:`RECONCILING` and :data:`STALLED` say which Ready
reasons also mean work in flight, or nothing more to do until something changes: the status
writer adds kstatus's ``Reconciling`` or ``Stalled`` condition for them.
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
# The Secret's credentials are not for this URL: it has no `url`, or the repo's URL is not under it.
SECRET_URL_MISMATCH = "SecretURLMismatch"
# A file:// repo outside the directories the operator's settings allow.
URL_NOT_ALLOWED = "URLNotAllowed"

# Extension (and a Tiltfile whose ext:// load waits for its repo: RepoNotReady).
REPO_NOT_FOUND = "RepoNotFound"
REPO_NOT_READY = "RepoNotReady"
PATH_INVALID = "PathInvalid"
TILTFILE_PENDING = "TiltfilePending"
TILTFILE_SUCCEEDED = "TiltfileSucceeded"
TILTFILE_FAILED = "TiltfileFailed"
# An Extension that Tiltfiles load (ext://) runs nothing of its own: Ready once its Tiltfile is there.
TILTFILE_FOUND = "TiltfileFound"

# Tiltfile.
RUN_SUCCEEDED = "RunSucceeded"
RUN_FAILED = "RunFailed"

# Extension, Tiltfile, Cmd: the ServiceAccount it acts as does not exist (retried until it does).
SERVICE_ACCOUNT_NOT_FOUND = "ServiceAccountNotFound"

# Cmd.
PROCESS_RUNNING = "ProcessRunning"
PROCESS_WAITING = "ProcessWaiting"
PROCESS_EXITED = "ProcessExited"
PROCESS_START_FAILED = "ProcessStartFailed"
EXEC_DISABLED = "ExecDisabled"

# FileWatch.
WATCHING = "Watching"
WATCH_FAILED = "WatchFailed"

# KubernetesApply: its YAML applied; an object of it refused (the rest applied; retried, as a
# namespace or a CRD may come, or a role be bound); YAML that no apply can take.
YAML_APPLIED = "YAMLApplied"
APPLY_FAILED = "ApplyFailed"
YAML_INVALID = "YAMLInvalid"
# Its objects applied, and some not yet Current (kstatus: a rollout in progress), or Failed (a
# Deployment past its progress deadline, a pod in CrashLoopBackOff): Flux's words.
PROGRESSING = "Progressing"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
# Not applied yet: a resource of its resource_deps is not ready (Flux's word for dependsOn).
DEPENDENCY_NOT_READY = "DependencyNotReady"

# Any kind: the reconcile itself failed (the API server refused, an exception); it is retried.
RECONCILE_FAILED = "ReconcileFailed"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
# A Tiltfile run in flight (waiting for a host, or running).
RUN_IN_PROGRESS = "RunInProgress"

# Ready reasons that mean the operator is still at work or will retry by itself: Reconciling.
RECONCILING = frozenset(
    {
        FETCH_FAILED,
        SECRET_NOT_FOUND,
        REPO_NOT_FOUND,
        REPO_NOT_READY,
        TILTFILE_PENDING,
        SERVICE_ACCOUNT_NOT_FOUND,
        APPLY_FAILED,
        PROGRESSING,
        DEPENDENCY_NOT_READY,
    }
)
# Ready reasons that no retry can change: Stalled until the spec, a file or a Secret changes.
STALLED = frozenset(
    {
        URL_INVALID,
        REF_INVALID,
        SPEC_INVALID,
        SECRET_INVALID,
        SECRET_URL_MISMATCH,
        URL_NOT_ALLOWED,
        AUTHENTICATION_FAILED,
        HOST_KEY_MISMATCH,
        PATH_INVALID,
        TILTFILE_FAILED,
        RUN_FAILED,
        EXEC_DISABLED,
        WATCH_FAILED,
        YAML_INVALID,
    }
)
