from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def email_login_enabled() -> bool:
    """ACCOUNT_EMAIL_LOGIN: whether the sign-in page offers email and password besides the eID."""
    return bool(settings.ACCOUNT_EMAIL_LOGIN)
