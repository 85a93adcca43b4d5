from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from portal.accounts.models import User
from portal.accounts.services import identity_record_on_file, profile_ensure
from portal.records.models import AuthMode, DataSource

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "yellow-button-demo"  # noqa: S105  (public demo login, printed by `make run`)
# The patient of the HL7 IPS 2.0.0 example Bundle-bundle-ips-all-sections.json, which the sandbox holds.
DEMO_IDENTIFIER_SYSTEM = "https://standards.digital.health.nz/ns/nhi-id"
DEMO_IDENTIFIER_VALUE = "ABC1234"
DEMO_SOURCE_NAME = "Sandbox national endpoint"


class Command(BaseCommand):
    help = "Create or repair the demo citizen and the demo data source (idempotent)."

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
        profile_ensure(user=user)
        # On file with the eID issuer and subject unknown: Patricia's first eID sign-in (the sandbox's
        # national_identifier ABC1234) lands in this account and fills them in.
        identity_record_on_file(user=user, system=DEMO_IDENTIFIER_SYSTEM, value=DEMO_IDENTIFIER_VALUE)
        self.stdout.write(f"demo citizen {'created' if created else 'up to date'}: {DEMO_EMAIL}")
        # The local FHIR sandbox `make run` starts: open, found by the citizen's NHI number.
        _source, source_created = DataSource.objects.update_or_create(
            name=DEMO_SOURCE_NAME,
            defaults={
                "base_url": settings.FHIR_SANDBOX_URL,
                "enabled": True,
                "auth_mode": AuthMode.OPEN,
                "patient_identifier_system": DEMO_IDENTIFIER_SYSTEM,
            },
        )
        self.stdout.write(
            f"demo data source {'created' if source_created else 'up to date'}: {settings.FHIR_SANDBOX_URL}"
        )
