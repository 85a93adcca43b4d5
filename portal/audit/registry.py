"""How higher apps give their targets a readable name on the activity page, without this app importing them.

An app registers one describer per target type, e.g. in its AppConfig.ready()::

    @target_describer("sharing.share")
    def describe_shares(owner: User, ids: list[str]) -> dict[str, str]:
        return {str(share.id): share.label for share in owner.shares.filter(id__in=ids)}

A describer gets the owner and the ids on one page and answers with plain text per id (a link's label, a
source's name), never clinical content. It must look only among the owner's own rows.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable

from portal.accounts.models import User
from portal.audit.models import AuditEntry

TargetDescriber = Callable[[User, list[str]], dict[str, str]]

_describers: dict[str, TargetDescriber] = {}


def _same_function(one: TargetDescriber, other: TargetDescriber) -> bool:
    # A module imported anew (the development server's reloader) registers an equal function again.
    return one is other or (
        getattr(one, "__module__", None) == getattr(other, "__module__", None)
        and getattr(one, "__qualname__", None) == getattr(other, "__qualname__", None)
    )


def target_describer(target_type: str) -> Callable[[TargetDescriber], TargetDescriber]:
    """Register the describer of one target type; a second, different one for the same type is a mistake."""

    def register(describer: TargetDescriber) -> TargetDescriber:
        existing = _describers.get(target_type)
        if existing is not None and not _same_function(existing, describer):
            raise ValueError(f"a describer for {target_type!r} is registered already")
        _describers[target_type] = describer
        return describer

    return register


def describe_targets(*, owner: User, entries: Iterable[AuditEntry]) -> dict[tuple[str, str], str]:
    """Readable text per (target type, target id) of the entries: one describer call per type."""
    ids_by_type: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        if entry.target_type and entry.target_id and entry.target_id not in ids_by_type[entry.target_type]:
            ids_by_type[entry.target_type].append(entry.target_id)
    texts: dict[tuple[str, str], str] = {}
    for target_type, ids in ids_by_type.items():
        describer = _describers.get(target_type)
        if describer is None:
            continue
        described = describer(owner, ids)
        for target_id in ids:
            text = described.get(target_id)
            if text:
                texts[(target_type, target_id)] = str(text)
    return texts


def uuid_ids(ids: Iterable[str]) -> list[str]:
    """The ids that are UUIDs: a describer of rows keyed by UUID looks up only those (a row copied from older
    history, or a hand-made one, may name something else)."""
    valid = []
    for target_id in ids:
        try:
            uuid.UUID(target_id)
        except ValueError:
            continue
        valid.append(target_id)
    return valid
