from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
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
# The SMART standalone launch source `make run` starts: its own authorization server's client for the portal
# (sandbox/eid/authorization-server.mjs's defaults, public like the demo login).
DEMO_LAUNCH_SOURCE_NAME = "Health record sandbox (SMART launch)"
DEMO_LAUNCH_CLIENT_ID = "yellow-button-portal"
DEMO_LAUNCH_CLIENT_SECRET = "smart-sandbox-secret"  # noqa: S105
DEMO_LAUNCH_SCOPE = "launch/patient patient/*.rs openid fhirUser offline_access"


class Command(BaseCommand):
    help = "Create or repair the demo citizen and the demo data sources (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--smart-launch-url",
            default="",
            help="also seed a SMART standalone launch data source at this FHIR base URL (make run's)",
        )
        parser.add_argument(
            "--source",
            action="append",
            default=[],
            metavar="NAME=URL",
            help="also seed an open data source that finds the citizen by NHI number (repeatable; make run's "
            "hospital, GP and register)",
        )

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
        self._open_source(DEMO_SOURCE_NAME, settings.FHIR_SANDBOX_URL)
        if options["smart_launch_url"]:
            self._launch_source(options["smart_launch_url"].rstrip("/"))
        for named in options["source"]:
            name, separator, base_url = named.partition("=")
            if not separator or not name.strip() or not base_url.strip():
                raise CommandError(f"--source wants NAME=URL, not {named!r}")
            self._open_source(name.strip(), base_url.strip().rstrip("/"))

    def _open_source(self, name: str, base_url: str) -> None:
        _source, created = DataSource.objects.update_or_create(
            name=name,
            defaults={
                "base_url": base_url,
                "enabled": True,
                "auth_mode": AuthMode.OPEN,
                "patient_identifier_system": DEMO_IDENTIFIER_SYSTEM,
            },
        )
        self.stdout.write(f"demo data source {name!r} {'created' if created else 'up to date'}: {base_url}")

    def _launch_source(self, base_url: str) -> None:
        # The citizen connects it themselves: Connect, sign in at the source as a test patient, Approve.
        source, created = DataSource.objects.update_or_create(
            name=DEMO_LAUNCH_SOURCE_NAME,
            defaults={
                "base_url": base_url,
                "enabled": True,
                "auth_mode": AuthMode.SMART_LAUNCH,
                "client_id": DEMO_LAUNCH_CLIENT_ID,
                "scope": DEMO_LAUNCH_SCOPE,
                "patient_identifier_system": "",
            },
        )
        source.set_client_secret(DEMO_LAUNCH_CLIENT_SECRET)
        source.save(update_fields=["client_secret_encrypted"])
        self.stdout.write(f"demo SMART launch source {'created' if created else 'up to date'}: {base_url}")
