"""The reconcilers: what the operator does for each kind, in plain modules that never import kopf.

The kopf layer (``tilt_operator.controllers``) only feeds :class:`Controller` with watch events;
everything else happens here. Each kind has a reconciler that reads the cluster from the
:class:`~tilt_operator.reconcilers.cache.Cache` (what the watches delivered), computes the whole
status it wants with a pure function and writes it through the one
:class:`~tilt_operator.reconcilers.status.StatusWriter`. Work arrives through a
:class:`~tilt_operator.reconcilers.queue.WorkQueue` per kind, triggered by events only: a watch
event, a click, a process exit, a file change, a repo's interval coming due.
"""
