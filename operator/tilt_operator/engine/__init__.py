"""The Tiltfile engine: run a Tiltfile with starlark-go in an isolated worker, with a time and a memory limit.

Called by the Tiltfile reconciler (through a :class:`~tilt_operator.engine.pool.WorkerPool`) and
by ``kubectl tilt render`` (:func:`~tilt_operator.engine.pool.run_tiltfile`). Plain Python: no
kopf, no Kubernetes client. This package's ``__init__`` imports nothing heavy, because every
worker process imports it first.

Why workers are reused. starlark-go runs in a worker process, never in the operator: it can crash
the process (SIGSEGV in cgo), and a runaway Tiltfile must be stoppable by killing something. A
fresh interpreter per run cost about 50 ms of CPU before the Tiltfile's first line; a fork server
would be cheaper, but the worker embeds the Go runtime, whose threads do not survive a fork. So
workers start warm ahead of need and serve runs one after another, which is safe because a run
leaves nothing behind that the next one can see:

- every run gets a new ``starlark_go.Starlark`` interpreter and a new ``Session``, so no global,
  loaded module or registration of an earlier run exists for it;
- a Tiltfile can change neither the process's environment nor its working directory nor any file
  (no builtin writes), and the worker restores both before each run anyway;
- a worker that hit a limit, crashed, was stopped by a button or timed out is gone: the time limit
  and cancellation kill it, the memory limit and a crash end it, and the pool starts another;
- a worker retires after a run that left it large (a quarter of its memory limit) and after
  ``MAX_RUNS_PER_WORKER`` runs, so memory a run held on to never counts against a later one.

What a Tiltfile can use: one builtin per tilt.dev kind generated from the CRDs
(``engine.builtins``), ``print``, ``warn(msg)``, ``fail(msg)``, ``read_file(path, default=None)``
confined to the run's root, ``tiltfile_dir()`` (the running file's directory), the run's arguments
as the frozen list ``args``, Tilt's ``local_resource`` and ``include``, and ``load()`` of relative
files (confined to the root) and of ``ext://`` extensions (located through ``ExtensionRoots``).
"""

from tilt_operator.engine.protocol import ExtensionRoots, RunResult

__all__ = ["ExtensionRoots", "RunResult"]
