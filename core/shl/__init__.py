"""SMART Health Links 1.0: the payload and the files' JWE."""
