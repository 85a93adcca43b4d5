from typing import Any

from allauth.account.models import EmailAddress
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.accounts.models import User
from portal.accounts.services import profile_ensure

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "yellow-button-demo"  # noqa: S105  (public demo login, printed by `make run`)
# The patient of the HL7 IPS 2.0.0 example Bundle-bundle-ips-all-sections.json, which the sandbox holds.
DEMO_IDENTIFIER_SYSTEM = "https://standards.digital.health.nz/ns/nhi-id"
DEMO_IDENTIFIER_VALUE = "ABC1234"


class Command(BaseCommand):
    help = "Create or repair the demo citizen (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user, created = User.objects.get_or_create(email=DEMO_EMAIL)
        user.first_name, user.last_name = "Patricia", "Jordana"
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        profile = profile_ensure(user=user)
        profile.national_identifier_system = DEMO_IDENTIFIER_SYSTEM
        profile.national_identifier_value = DEMO_IDENTIFIER_VALUE
        profile.save()
        self.stdout.write(f"demo citizen {'created' if created else 'up to date'}: {DEMO_EMAIL}")
