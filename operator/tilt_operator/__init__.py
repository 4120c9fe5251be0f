"""A Kubernetes operator that brings Tilt's extension system to any API server."""
