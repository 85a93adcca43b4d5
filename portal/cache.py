"""The cache every process shares when Redis is absent: Django's database cache, with an exact increment.

Rate limits count in the default cache (django-ratelimit adds a counter, then increments it). Django's own
database cache increments by reading and writing back, so two processes counting at once lose a hit; here the
row stays locked from the read to the write.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils.timezone import now

# With the row locked the first attempt succeeds; retries only guard against a database that does not lock.
_ATTEMPTS = 50


def _encoded(value: Any, protocol: int) -> str:
    return base64.b64encode(pickle.dumps(value, protocol)).decode("latin1")


class SharedDatabaseCache(DatabaseCache):
    def __init__(self, table: str, params: dict[str, Any]) -> None:
        super().__init__(table, params)
        self._table_name = table

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table_name)
        # The row stays locked from the read to the write: PostgreSQL by FOR UPDATE, SQLite because the portal
        # opens its transactions IMMEDIATE (the write lock first). The UPDATE still names the value read.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        current = connection.ops.adapt_datetimefield_value(now())
        for _attempt in range(_ATTEMPTS):
            with transaction.atomic(using=db), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT value FROM {table} WHERE cache_key = %s AND expires > %s{lock}",  # noqa: S608 (quoted name)
                    [key, current],
                )
                row = cursor.fetchone()
                if row is None:
                    raise ValueError(f"Key '{key}' not found")
                stored = connection.ops.process_clob(row[0])
                value = pickle.loads(base64.b64decode(stored.encode())) + delta  # noqa: S301 (our own rows)
                cursor.execute(
                    f"UPDATE {table} SET value = %s WHERE cache_key = %s AND value = %s",  # noqa: S608
                    [_encoded(value, self.pickle_protocol), key, stored],
                )
                if cursor.rowcount == 1:
                    return value
        raise RuntimeError("the cache counter kept changing underneath; the database is overloaded")
