"""The kopf layer: the only package that imports kopf, and the only one that knows it is an operator.

Importing it registers everything with kopf's default registry: the indexes (the cache), one
event handler per kind that hands the event to the reconcilers' :class:`Controller`, and the
start-up and clean-up that create and stop it. Each handler delegates in a line or two.
"""

from tilt_operator.controllers import events, indexes, lifecycle  # noqa: F401
