from django.http import HttpRequest

from portal.accounts.models import User


def request_citizen(request: HttpRequest) -> User:
    """The signed-in citizen of a request behind @login_required."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionError("This view needs a signed-in citizen")
    return user
