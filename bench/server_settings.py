"""The portal's settings plus one trivial JSON view: the floor of the manifest bench, on the same server."""

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
