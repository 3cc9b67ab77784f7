"""The composition root: the CLI, the supervisor and the registries of workers and edges.

The one package that imports everything; `oncallnova/` (the core) imports none of it.
"""
