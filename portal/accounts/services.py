from django.contrib.sessions.models import Session
from django.utils import timezone

from portal.accounts.models import CitizenProfile, Language, User


def profile_ensure(*, user: User) -> CitizenProfile:
    profile, _created = CitizenProfile.objects.get_or_create(user=user)
    return profile


def profile_set_language(*, user: User, language: str) -> CitizenProfile:
    if language not in Language.values:
        raise ValueError(f"Unsupported language: {language!r}")
    profile = profile_ensure(user=user)
    profile.preferred_language = language
    profile.save(update_fields=["preferred_language"])
    return profile


def sessions_purge() -> int:
    """Delete the sessions past their expiry (Django keeps them until asked); returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    return deleted
