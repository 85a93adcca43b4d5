"""Sign in with the national eID: allauth's generic OpenID Connect provider, hardened (see provider.py)."""
