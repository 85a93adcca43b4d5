"""How the citizen's activity page names their pulls and connections: by the data source's name."""

from portal.accounts.models import User
from portal.audit.registry import target_describer, uuid_ids
from portal.records.models import Connection, Pull


@target_describer("records.pull")
def describe_pulls(owner: User, ids: list[str]) -> dict[str, str]:
    pulls = Pull.objects.filter(owner=owner, id__in=uuid_ids(ids)).select_related("source")
    return {str(pull.id): pull.source.name for pull in pulls}


@target_describer("records.connection")
def describe_connections(owner: User, ids: list[str]) -> dict[str, str]:
    connections = Connection.objects.filter(owner=owner, id__in=uuid_ids(ids)).select_related("source")
    return {str(connection.id): connection.source.name for connection in connections}
