"""The handler runtime: the handler process, its supervisor and the worker server.

This package's ``__init__`` stays empty on purpose: the handler process imports
``smyth.runtime.bootstrap``, which must see only the standard library.
"""
