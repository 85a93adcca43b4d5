"""The accounts tests' fixtures: the fake OpenID provider the eID tests control."""

from tests.accounts.eid_op import fake_op  # noqa: F401
