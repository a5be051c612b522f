"""Smyth: AWS Lambda handlers served over HTTP, warm, reloading and debuggable."""

__version__ = "0.1.0"
