"""SMART Health Links 1.0, pure: the link payload, its flags, and the JWE files (no Django here)."""
