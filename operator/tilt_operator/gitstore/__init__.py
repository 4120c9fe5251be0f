"""The git store and the URL rules: an https ExtensionRepo's (url, ref) becomes a checkout on disk.

``urls`` refuses every URL and ref that could reach git as something other than a public
repository; ``store`` fetches what passes, hardened, into the data dir, where ``layout`` says
(Tilt's ``tilt_modules/<host>/<path>``). Nothing here knows about kopf or Kubernetes.
"""
