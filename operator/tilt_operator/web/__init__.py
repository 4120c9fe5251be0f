"""The operator's web server, on loopback only: the dashboard, its live updates and clicks, and the
logs API that ``kubectl tilt logs`` reads.

Started by the kopf layer's start-up with the reconcilers' cache and the log store; it keeps no
watches of its own (the cache has every object) and makes no requests per page view.
"""
