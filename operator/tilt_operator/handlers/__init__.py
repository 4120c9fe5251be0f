"""kopf handlers, one module per kind; importing this package registers them all.

Handlers are thin: they read the object, call one domain function and write status. The domain
modules never import from here.
"""

from tilt_operator.handlers import cmd, extension, extensionrepo, lifecycle, tiltfile, uibutton  # noqa: F401
