"""The Tiltfile engine: run a Tiltfile in Tilt's own Starlark, in an isolated host process with limits.

Called by the Tiltfile reconciler (through a :class:`~tilt_operator.engine.pool.WorkerPool`), by
``kubectl tilt render`` (:func:`~tilt_operator.engine.pool.run_tiltfile`) and by ``kubectl tilt
create`` (:func:`~tilt_operator.engine.pool.build_object`). Plain Python: no kopf, no Kubernetes
client, and no Starlark either: Starlark runs in the host, a Go program on go.starlark.net whose
sources are ``engine/host/`` (docs/design.md, "The Tiltfile language").

- ``binary``: builds the host once per version of its sources, with the Go toolchain, and caches it.
- ``protocol``: the request and the events the host answers with, and the run's result.
- ``pool``: hosts kept warm, one run at a time each, with the time limit enforced by killing.

Why hosts are reused. A host starts in a few milliseconds, but a warm one runs a Tiltfile before
a new one would have said ``ready``. Reuse is safe because a run leaves nothing behind that the
next one can see: each run gets a new Starlark thread, new globals and a new load cache; no
builtin changes the host's environment, directory or files; and a host that hit a limit (time,
memory, steps), crashed or was stopped by a button is gone and replaced, never reused.

What a Tiltfile can use is Tilt's dialect (``while``, recursion, sets, top-level ``if``/``for``,
global reassignment), ``struct``, ``load()`` and ``include()`` with one frozen module per file
and run, one builtin per tilt.dev kind generated from the CRDs (also as ``v1alpha1.<kind>``),
and Tilt's builtins for extensions (``os``, ``shlex``, ``config``, ``local``, the data and file
builtins, ``local_resource``, ...). ``host/builtins.go`` lists them by family; docs/design.md,
"The Tiltfile language", says what each family does here.
"""

from tilt_operator.engine.protocol import ExtensionRoots, RepoRoot, RunResult, Waiting

__all__ = ["ExtensionRoots", "RepoRoot", "RunResult", "Waiting"]
