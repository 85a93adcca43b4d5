"""The portal's only settings file: everything that differs between a laptop and production comes from the
environment (see the configuration table in README.md)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.fhir import trust as _fhir_trust

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
# Everything the portal writes on a laptop (SQLite, the embedded broker, beat's schedule) lives here.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


# Secrets may also come from files (Docker / Kubernetes secrets): SECRET_KEY_FILE=/run/secrets/key.
def _secret(name: str, default: str | None = None) -> str | None:
    file_path = env.str(f"{name}_FILE", default="")
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
_secret_key = _secret("SECRET_KEY")
if not _secret_key:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off.")
    _secret_key = "insecure-development-key-only-used-with-debug-on"  # noqa: S105
SECRET_KEY: str = _secret_key

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
FHIR_SANDBOX_URL = env.url("FHIR_SANDBOX_URL", default="http://127.0.0.1:8090/fhir").geturl()

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "portal.accounts",
    "portal.jobs",
    "portal.records",
    "portal.audit",
    "sharing",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "portal.security.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "portal.security.SlashForReadingMiddleware",
    "portal.security.NoReferrerCsrfMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.security.SessionLifetimeMiddleware",
    "portal.accounts.middleware.PreferredLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.citizen_readiness",
                "portal.context_processors.service",
            ],
        },
    },
]

# ---------------------------------------------------------------------------- database and cache

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
# Production and `make run` keep connections (CONN_MAX_AGE=60); tests open one per request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so a worker process started by a test sees the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-portal.sqlite3")}
    # WAL: the web and worker processes read while one writes; NORMAL sync is durable across crashes of
    # the process (only a power cut may lose the last commits), which suits a laptop and the demo.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    # No Redis: the database holds the cache, so every web process (gunicorn runs several) counts rate limits
    # alike. `make run` creates its table (`manage.py createcachetable`). Many entries before culling: a cull
    # would forget counters, and a flood of distinct keys must not buy anyone a fresh budget.
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.SharedDatabaseCache",
            "LOCATION": "portal_cache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

# ---------------------------------------------------------------------------- Celery

# Redis is only the transport: job state lives in the database (portal.jobs), so no result backend.
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
BROKER_DIR = VAR_DIR / "broker"
if not REDIS_URL:
    # Embedded broker: kombu's filesystem transport under var/, so a bare laptop still runs real workers.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "control"):
        (BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}  # > hard time limit, see below
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=600)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=660)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "jobs-sweep": {"task": "portal.jobs.tasks.jobs_sweep", "schedule": 60.0},
    # Sources whose last pull failed for a passing reason are asked again when their time comes.
    "pulls-retry": {"task": "portal.records.tasks.pulls_retry_due", "schedule": 30.0},
    "exports-purge": {"task": "sharing.tasks.exports_purge", "schedule": 300.0},
    "shares-purge": {"task": "sharing.tasks.shares_purge", "schedule": 300.0},
    # Sessions past their expiry go: one suspended for re-authentication may hold a form's values.
    "sessions-purge": {"task": "portal.accounts.tasks.sessions_purge", "schedule": 60 * 60.0},
    # The audit trail keeps ACCESS_LOG_RETENTION_DAYS (at least three years); older rows go once a day.
    "audit-purge": {"task": "portal.audit.tasks.audit_purge", "schedule": 24 * 60 * 60.0},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A job left queued this long without a worker picking it up is sent again by the sweeper.
JOB_REQUEUE_AFTER_SECONDS = env.int("JOB_REQUEUE_AFTER_SECONDS", default=120)
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
# Making a summary (and its PDF) is bounded: one that takes longer is a failed job, not a stuck worker.
EXPORT_SOFT_TIME_LIMIT = env.int("EXPORT_SOFT_TIME_LIMIT", default=120)
EXPORT_TIME_LIMIT = env.int("EXPORT_TIME_LIMIT", default=150)
# A prepared download is deleted this long after it was made (the history row stays).
EXPORT_FILE_LIFETIME_SECONDS = env.int("EXPORT_FILE_LIFETIME_SECONDS", default=24 * 60 * 60)
# A worker child whose peak memory passed this (KiB) is replaced once its task ends: the memory one huge job
# took (a JSON export of a hostile 50,000-item record, an export that failed) is given back, not kept.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=600 * 1024)
# A PDF is a summary a person reads: at most this many entries per section and in all, the most recently
# updated first; it says on its first page what it left out. The JSON download always holds everything.
PDF_MAX_ROWS_PER_SECTION = env.int("PDF_MAX_ROWS_PER_SECTION", default=300)
PDF_MAX_ROWS = env.int("PDF_MAX_ROWS", default=1000)

# ---------------------------------------------------------------------------- sharing (SMART Health Links)

# The portal's public origin (scheme://host[:port]) as clinicians reach it; it goes into every link and QR.
# Empty: taken from the request that creates the share.
PORTAL_ORIGIN = env.str("PORTAL_ORIGIN", default="").rstrip("/")
# How long a share may live, in seconds: the choices offered to the citizen (15 minutes to 30 days).
SHARE_EXPIRY_CHOICES = [15 * 60, 24 * 60 * 60, 7 * 24 * 60 * 60, 30 * 24 * 60 * 60]
# Wrong passcodes a link may see in its whole life before it is locked for good.
SHL_PASSCODE_ATTEMPTS = env.int("SHL_PASSCODE_ATTEMPTS", default=10)
# A manifest's file URLs work once, for at most this long (the specification's limit is one hour).
SHL_FILE_URL_LIFETIME_SECONDS = min(env.int("SHL_FILE_URL_LIFETIME_SECONDS", default=60 * 60), 60 * 60)
# The access log under a flood: like refusals (same link, recipient and outcome) within this many seconds of
# the last are one row with a count, and past this many rows a link's further accesses are counted on one row
# per kind.
SHL_ACCESS_LOG_WINDOW_SECONDS = env.int("SHL_ACCESS_LOG_WINDOW_SECONDS", default=15 * 60)
SHL_ACCESS_LOG_MAX_ROWS = env.int("SHL_ACCESS_LOG_MAX_ROWS", default=500)
# Requests per client address and link before 429 (django-ratelimit syntax, e.g. "60/m").
SHL_RATE_LIMIT = env.str("SHL_RATE_LIMIT", default="60/m")
# A manifest request is a small JSON object: anything bigger is refused unread.
SHL_MANIFEST_BODY_MAX_BYTES = 4096
# The audit trail (with the citizen's access log) is kept this long, at least three years (EHDS Art. 9);
# the beat task audit_purge deletes older rows.
ACCESS_LOG_RETENTION_DAYS = max(env.int("ACCESS_LOG_RETENTION_DAYS", default=3 * 366), 3 * 365)
# Re-authentication: a share may be created this long after signing in (or re-authenticating), no later.
ACCOUNT_REAUTHENTICATION_TIMEOUT = env.int("ACCOUNT_REAUTHENTICATION_TIMEOUT", default=300)
# django-ratelimit keeps its counters in the default cache: Redis whenever REDIS_URL is set.
RATELIMIT_USE_CACHE = "default"

# ---------------------------------------------------------------------------- secrets at rest, FHIR upstreams

# Fernet keys (comma-separated, newest first) for upstream client secrets, private keys and tokens. Rotate by
# putting a new key first; older keys still decrypt. Without any, one key is derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS: list[str] = (_secret("FIELD_ENCRYPTION_KEYS") or "").replace(" ", "").split(",")
FIELD_ENCRYPTION_KEYS = [key for key in FIELD_ENCRYPTION_KEYS if key]
# Transient upstream failures (timeouts, 429, 5xx): attempts in all, with exponential backoff between them.
FHIR_MAX_ATTEMPTS = env.int("FHIR_MAX_ATTEMPTS", default=4)
FHIR_BACKOFF_SECONDS = env.float("FHIR_BACKOFF_SECONDS", default=1.0)
# A Retry-After longer than this fails the pull instead of holding a worker.
FHIR_RETRY_AFTER_MAX_SECONDS = env.float("FHIR_RETRY_AFTER_MAX_SECONDS", default=60.0)
FHIR_MAX_PAGES = env.int("FHIR_MAX_PAGES", default=2000)
# A pull that failed for a reason that may pass (the source down, slow or busy) is started again by the
# portal: after the first delay, then the next; once all are used, only the citizen's own "Fetch" asks again.
PULL_RETRY_DELAYS_SECONDS = [
    int(delay) for delay in env.list("PULL_RETRY_DELAYS_SECONDS", default=["300", "1800", "7200"])
]
FHIR_MAX_RESPONSE_BYTES = env.int("FHIR_MAX_RESPONSE_BYTES", default=64 * 1024 * 1024)
# The longest one upstream answer may take to arrive in full (a server dripping bytes cannot hold a worker).
FHIR_MAX_RESPONSE_SECONDS = env.float("FHIR_MAX_RESPONSE_SECONDS", default=120.0)
# Hosts besides a data source's own whose https token/authorize endpoints its discovery may name (the portal
# sends secrets there): comma-separated host names, no scheme, port or wildcard. See core/fhir/trust.py.
FHIR_AUTH_TRUSTED_HOSTS: list[str] = env.list("FHIR_AUTH_TRUSTED_HOSTS", default=[])
if _bad_hosts := [host for host in FHIR_AUTH_TRUSTED_HOSTS if not _fhir_trust.is_host_name(host)]:
    raise ImproperlyConfigured(f"FHIR_AUTH_TRUSTED_HOSTS: not a bare host name: {', '.join(_bad_hosts)}")
# Exact origins (scheme://host:port) besides a data source's own whose token/authorize endpoints its discovery
# may name, e.g. a local sandbox's authorization server on a port of its own; plain http only on loopback.
FHIR_AUTH_TRUSTED_ORIGINS: list[str] = env.list("FHIR_AUTH_TRUSTED_ORIGINS", default=[])
if _bad_origins := [origin for origin in FHIR_AUTH_TRUSTED_ORIGINS if not _fhir_trust.is_origin(origin)]:
    raise ImproperlyConfigured(
        "FHIR_AUTH_TRUSTED_ORIGINS: not an https origin or a loopback http origin (scheme://host:port): "
        + ", ".join(_bad_origins)
    )

# ---------------------------------------------------------------------------- accounts (django-allauth)

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "home"
LOGIN_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_PREVENT_ENUMERATION = True
# allauth's defaults, stated so nobody turns them off by accident.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Yellow Button] "
# Mails link to PORTAL_ORIGIN, never to the Host a request named.
ACCOUNT_ADAPTER = "portal.accounts.adapter.PortalAccountAdapter"
# Changing the email address or the password asks for the password again (MFA changes always do).
ACCOUNT_REAUTHENTICATION_REQUIRED = True
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Yellow Button"

# Sign in with the national eID: allauth's OpenID Connect provider, hardened by portal.accounts.eid (nonce,
# ID token signature always checked against the issuer's JWKS, fixed algorithms, assurance). The callback is
# /accounts/oidc/<provider id>/login/callback/. Under DEBUG the local eID sandbox (`make run`) is the default
# issuer; without DEBUG, eID is configured only when EID_ISSUER is set.
EID_SANDBOX_URL = env.str("EID_SANDBOX_URL", default="http://127.0.0.1:8091")
# Lists: separated by spaces or commas.
EID_SCOPES = env.str("EID_SCOPES", default="openid profile national_id").replace(",", " ").split()
EID_IDENTIFIER_CLAIM = env.str("EID_IDENTIFIER_CLAIM", default="national_identifier")
EID_IDENTIFIER_SYSTEM = env.str(
    "EID_IDENTIFIER_SYSTEM", default="https://standards.digital.health.nz/ns/nhi-id"
)
# Assurance (acr) values accepted for signing in, lowest first; any other is refused. Sources are asked for
# the person by their national identifier only at EID_MIN_ASSURANCE or above (portal.accounts.selectors); a
# person signed in lower may connect sources that authenticate them themselves (SMART standalone launch).
EID_ACR_VALUES = (
    env.str(
        "EID_ACR_VALUES",
        default="http://eidas.europa.eu/LoA/low http://eidas.europa.eu/LoA/substantial "
        "http://eidas.europa.eu/LoA/high",
    )
    .replace(",", " ")
    .split()
)
EID_MIN_ASSURANCE = env.str("EID_MIN_ASSURANCE", default="http://eidas.europa.eu/LoA/substantial")
# How the portal authenticates at an eID's token endpoint.
EID_CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
# Several eIDs may be offered (EID_PROVIDERS="eid bankid"): "eid" reads EID_ISSUER, EID_CLIENT_ID, …; another
# id reads the same names with its own prefix (EID_BANKID_ISSUER, …), falling back to EID_SCOPES,
# EID_IDENTIFIER_CLAIM and EID_IDENTIFIER_SYSTEM. Each gets its own button and callback path.
EID_PROVIDERS = env.str("EID_PROVIDERS", default="eid").replace(",", " ").split()


def _eid_app(provider_id: str) -> dict[str, object] | None:
    """One eID's allauth app from the environment; None when it has no issuer."""
    prefix = "EID_" if provider_id == "eid" else f"EID_{provider_id.upper().replace('-', '_')}_"
    issuer = env.str(f"{prefix}ISSUER", default="")
    sandbox = provider_id == "eid" and DEBUG and issuer in ("", EID_SANDBOX_URL)
    if sandbox:
        issuer = EID_SANDBOX_URL
    if not issuer:
        return None
    auth_method = env.str(f"{prefix}CLIENT_AUTH", default="client_secret_basic")
    if auth_method not in EID_CLIENT_AUTH_METHODS:
        raise ImproperlyConfigured(f"{prefix}CLIENT_AUTH: one of {', '.join(EID_CLIENT_AUTH_METHODS)}.")
    secret = _secret(f"{prefix}CLIENT_SECRET", "eid-sandbox-secret" if sandbox else "") or ""
    key_file = env.str(f"{prefix}PRIVATE_KEY_FILE", default="")
    if auth_method == "private_key_jwt" and not key_file:
        raise ImproperlyConfigured(f"{prefix}CLIENT_AUTH=private_key_jwt needs {prefix}PRIVATE_KEY_FILE.")
    if auth_method != "private_key_jwt" and not secret:
        raise ImproperlyConfigured(
            f"{prefix}ISSUER is set: {prefix}CLIENT_SECRET (or {prefix}CLIENT_SECRET_FILE) must be too."
        )
    scopes = env.str(f"{prefix}SCOPES", default="").replace(",", " ").split() or EID_SCOPES
    return {
        "provider_id": provider_id,
        "name": env.str(f"{prefix}NAME", default="National eID"),
        "client_id": env.str(f"{prefix}CLIENT_ID", default="yellow-button-portal"),
        "secret": secret if auth_method != "private_key_jwt" else "",
        "settings": {
            "server_url": issuer,
            "fetch_userinfo": False,  # the identity comes from the signed ID token alone
            "oauth_pkce_enabled": True,
            "token_auth_method": auth_method,
            "private_key_file": key_file,
            "key_id": env.str(f"{prefix}KEY_ID", default=""),
            "signing_alg": env.str(f"{prefix}SIGNING_ALG", default="RS256"),
            "scope": scopes,
            "identifier_claim": env.str(f"{prefix}IDENTIFIER_CLAIM", default=EID_IDENTIFIER_CLAIM),
            "identifier_system": env.str(f"{prefix}IDENTIFIER_SYSTEM", default=EID_IDENTIFIER_SYSTEM),
            "acr_values": EID_ACR_VALUES,
            "min_acr": EID_MIN_ASSURANCE,
        },
    }


# Each gets the same hardening (provider_class below).
EID_APPS: list[dict[str, object]] = [app for app in map(_eid_app, EID_PROVIDERS) if app is not None]
if EID_APPS and EID_MIN_ASSURANCE not in EID_ACR_VALUES:
    raise ImproperlyConfigured("EID_MIN_ASSURANCE must be one of EID_ACR_VALUES.")
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "provider_class": "portal.accounts.eid.provider.EidProvider",
        "OAUTH_PKCE_ENABLED": True,
        "APPS": EID_APPS,
    }
}
SOCIALACCOUNT_ADAPTER = "portal.accounts.adapter.PortalSocialAccountAdapter"
# A new eID person gets an account at once: no sign-up form, no email asked for or verified.
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_REQUIRED = False
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
# Never an account by a matching email address: the identifier decides (portal.accounts.adapter).
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False
# Off: no email sign-up and no password sign-in (staff then sign in with the eID too).
ACCOUNT_EMAIL_LOGIN = env.bool("ACCOUNT_EMAIL_LOGIN", default=True)

# The demo prints mail (the verification link) on the console; production sets smtp+tls://user:pass@host:587.
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _secret("EMAIL_HOST_PASSWORD", _email.get("EMAIL_HOST_PASSWORD", ""))
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Yellow Button <no-reply@localhost>")

# ---------------------------------------------------------------------------- sessions and security

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# 30 minutes without a request ends the session (each request renews the cookie); 12 hours after signing in
# it ends whatever happens (portal.security.SessionLifetimeMiddleware).
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=30 * 60)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_ABSOLUTE_LIFETIME_SECONDS = env.int("SESSION_ABSOLUTE_LIFETIME_SECONDS", default=12 * 60 * 60)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", False) else None
# Behind the buffering proxy (compose's nginx) every request comes from the proxy's address: the client's is
# the one X-Forwarded-For value nginx sets (it replaces the header, never appends). Per-address limits
# (sign-in, links) then count per client, so one client's failures cannot lock everyone else out.
BEHIND_PROXY = env.bool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    ALLAUTH_TRUSTED_PROXY_COUNT = 1
    RATELIMIT_IP_META_KEY = "HTTP_X_FORWARDED_FOR"
HTTPS = env.bool("HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_SECURE = HTTPS
SECURE_CONTENT_TYPE_NOSNIFF = True
# No Referer at all, not even to ourselves (a page address can carry an id). Browsers then send
# `Origin: null` with our own form posts: portal.security.NoReferrerCsrfMiddleware handles that.
SECURE_REFERRER_POLICY = "no-referrer"
CSRF_FAILURE_VIEW = "portal.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
# HSTS goes out on HTTPS answers only (SecurityMiddleware), for a year unless told otherwise.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 60 * 60 if HTTPS else 0)
# No inline script or style anywhere; pages load only the portal's own files. The TOTP set-up page shows its
# QR code as a data: image. The viewer sets a stricter policy of its own (sharing/viewer.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        # No form-action: a SMART "Connect" form redirects to the data source's own sign-in page.
        "frame-ancestors": ["'none'"],
        "report-uri": ["/csp-report/"],
    }
}
# Creating downloads and links, per citizen (django-ratelimit syntax); more gets the 429 page.
EXPORT_CREATE_RATE = env.str("EXPORT_CREATE_RATE", default="20/h")
SHARE_CREATE_RATE = env.str("SHARE_CREATE_RATE", default="20/h")
# django-ratelimit's refusals (export and share creation) answer with the portal's 429 page.
RATELIMIT_VIEW = "portal.security.rate_limited"

# ---------------------------------------------------------------------------- languages

LANGUAGE_CODE = "en"
LANGUAGES = [("da", _("Danish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Copenhagen")
USE_TZ = True

# ---------------------------------------------------------------------------- the service

# Who runs this portal, as citizens and clinicians see it: the name in every header and title, the logo,
# and the contact on the help, contact, privacy and accessibility pages. Empty values fall back to the
# portal's own (translated) name and to "not given" on the contact page.
SERVICE_NAME = env.str("SERVICE_NAME", default="")
SERVICE_LOGO_URL = env.str("SERVICE_LOGO_URL", default="")
SERVICE_OPERATOR = env.str("SERVICE_OPERATOR", default="")
SERVICE_CONTACT_EMAIL = env.str("SERVICE_CONTACT_EMAIL", default="")
SERVICE_CONTACT_PHONE = env.str("SERVICE_CONTACT_PHONE", default="")
SERVICE_CONTACT_ADDRESS = env.str("SERVICE_CONTACT_ADDRESS", default="")
SERVICE_CONTACT_HOURS = env.str("SERVICE_CONTACT_HOURS", default="")

# ---------------------------------------------------------------------------- static files

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed names need `collectstatic` (the Dockerfile runs it); DEBUG serves the files as they are.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG or not env.bool("STATIC_MANIFEST", default=True)
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Generated files (exports) go through Django's storage API; on disk here unless STORAGES says otherwise.
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))

# ---------------------------------------------------------------------------- logging

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {
        "redact_share_links": {"()": "portal.logfilters.RedactShareLinks"},
        "url_schemes_only": {"()": "portal.logfilters.UrlSchemesOnly"},
        "escape_line_breaks": {"()": "portal.logfilters.EscapeLineBreaks"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_share_links", "escape_line_breaks"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # At DEBUG these print request URLs, and a patient search URL carries the national identifier.
        "urllib3": {"level": "WARNING"},
        "requests": {"level": "WARNING"},
        "fhirclient": {"level": "WARNING"},
        # WeasyPrint reports each rendering step at INFO; only its warnings (a refused URL) matter here.
        # A logger's filters see only the records logged on it, not its children's: both loggers WeasyPrint
        # uses keep only the scheme of the URLs they name.
        "weasyprint": {"level": "WARNING", "filters": ["url_schemes_only"]},
        "weasyprint.progress": {"filters": ["url_schemes_only"]},
        # These two name request paths ("Not Found: /shl/…"); the filter masks share links before any handler.
        "django.request": {"filters": ["redact_share_links"]},
        "django.server": {"filters": ["redact_share_links"]},
    },
}
