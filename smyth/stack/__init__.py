"""Docker mode (``smyth up``): config → stack model → docker SDK calls and compose.yaml.

Layers, each a module: ``model`` (pure: what to run), ``compose`` (pure: the model as a
compose file), ``engine`` (the model as docker SDK calls, errors translated to
``StackError``), ``image`` (build context, content-hash tag, build with progress),
``workflow`` (up, down, ps: build if missing, run, wait until ready), ``logs`` (prefixed,
merged container logs), ``gateway_main`` (the gateway container's entrypoint).
"""
