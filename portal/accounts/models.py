from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(DjangoUserManager["User"]):
    """Email is the login: there is no username."""

    def _create_user_by_email(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user_by_email(email, password, **extra)

    def create_superuser(  # type: ignore[override]
        self, email: str, password: str | None = None, **extra: Any
    ) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user_by_email(email, password, **extra)


class User(AbstractUser):
    username = None  # type: ignore[assignment]
    # Empty (NULL, so that many can be empty) for a citizen who signed up with the national eID alone.
    email = models.EmailField(_("email address"), unique=True, null=True, blank=True)  # type: ignore[assignment]

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects = UserManager()  # type: ignore[misc]

    def __str__(self) -> str:
        return self.email or self.get_full_name() or f"user {self.pk}"


class Language(models.TextChoices):
    DANISH = "da", _("Danish")
    ENGLISH = "en", _("English")


class CitizenProfile(models.Model):
    """What the portal knows about a citizen beyond the login (the national identifier: NationalIdentity)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.ENGLISH
    )

    class Meta:
        verbose_name = _("citizen profile")
        verbose_name_plural = _("citizen profiles")

    def __str__(self) -> str:
        return f"Profile of user {self.user_id}"


class NationalIdentity(models.Model):
    """A national identifier bound to one account, as a verified eID ID token stated it.

    National endpoints search by it (Patient?identifier=system|value). Written only by
    portal.accounts.services from a verified token claim (or by seed data, with issuer and subject unknown
    until the first eID sign-in claims the row); never from a form, an email match or a URL. Never logged,
    and shown masked, on the citizen's own account page only.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="national_identities"
    )
    system = models.CharField(_("identifier system"), max_length=255)
    value = models.CharField(_("national identifier"), max_length=64)
    # Empty until an eID sign-in with this identifier fills them (a seeded or migrated row).
    issuer = models.CharField(_("eID issuer"), max_length=255, blank=True)
    subject = models.CharField(_("eID subject"), max_length=255, blank=True)
    acr = models.CharField(_("assurance (acr)"), max_length=255, blank=True)
    verified_at = models.DateTimeField(_("last verified by eID"), null=True, blank=True)
    created_at = models.DateTimeField(_("bound"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("national identity")
        verbose_name_plural = _("national identities")
        constraints = (
            # One identifier belongs to one account; one eID person to one row; one identifier per system.
            models.UniqueConstraint(fields=("system", "value"), name="national_identity_one_account"),
            models.UniqueConstraint(
                fields=("issuer", "subject"),
                condition=~models.Q(subject=""),
                name="national_identity_one_eid_subject",
            ),
            models.UniqueConstraint(fields=("user", "system"), name="national_identity_one_per_system"),
        )

    def __str__(self) -> str:
        return f"National identity {self.pk} of user {self.user_id}"

    @property
    def owner(self) -> Any:
        # The audit trail's name for whose row this is (portal.admin_site).
        return self.user

    @property
    def masked_value(self) -> str:
        value = self.value
        return "•" * max(len(value) - 3, 3) + value[-3:] if value else ""
