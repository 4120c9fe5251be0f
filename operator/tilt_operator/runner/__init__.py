"""The runner: where the processes extensions supply run, apart from the operator.

``server`` is ``tilt-operator runner``, the second container of the operator's pod in a cluster;
``client`` is the operator's side, a :class:`~tilt_operator.processes.Launcher` whose processes
run there; ``protocol`` is what the two say over their local socket (docs/design.md, "Identity").
"""
