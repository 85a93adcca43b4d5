"""The portal's pure core: FHIR, IPS and SMART Health Links logic over plain dicts and dataclasses.

Nothing here imports Django, Celery or the portal's apps (``make lint`` checks it with import-linter), so
every module imports and runs without them: the apps build on this package, never the other way round.
"""
