"""Podscope settings: safe defaults for a laptop or classroom, every knob an environment variable.

Every setting Podscope reads, grouped by what it is for (tests/dashboard/unit/test_settings_doc.py keeps the list
whole):

Server and storage
  PODSCOPE_SECRET_KEY        signing key; without it one is generated once and kept in the state dir
  PODSCOPE_STATE_DIR         where the database and the generated key live (default: <repo>/var)
  PODSCOPE_DEBUG             "1" shows Django's debug pages; never on a shared network
  PODSCOPE_ALLOWED_HOSTS     comma-separated host names (default: localhost, 127.0.0.1, [::1])
  PODSCOPE_CSRF_TRUSTED_ORIGINS  comma-separated origins, e.g. https://podscope.example.edu; pages and sockets
                             from these origins are accepted besides the dashboard's own
  PODSCOPE_HTTPS             "1" when served over HTTPS: secure cookies, redirect to https, HSTS
  PODSCOPE_SERVE_STATIC      "0" when a front proxy serves /static/ itself (default: served by the app)
  PODSCOPE_LOG_LEVEL         level for the stderr log (default: INFO)

Clusters (read by dashboard/kube/clusters.py, when the cluster list is built)
  PODSCOPE_SANDBOX_KUBECONFIG  kubeconfig of the embedded sandbox, offered first as "Sandbox" (set by `demo`)
  KUBECONFIG                 colon-separated kubeconfig files whose contexts are offered (default: ~/.kube/config)
  KUBERNETES_SERVICE_HOST    set by Kubernetes inside a pod: offers "This cluster (in-cluster)"

Signing in
  PODSCOPE_LOGIN_LINK_TTL    seconds a one-time login link stays valid (default: 43200, twelve hours)
  PODSCOPE_LOGIN_FAILURES    failed sign-ins that lock an account, from any address (default: 10)
  PODSCOPE_LOGIN_ADDRESS_FAILURES  failed sign-ins, on any accounts, that lock a client address (default: 100)
  PODSCOPE_LOGIN_LOCKOUT_MINUTES   how long failures count, and so how long a lock lasts (default: 15)

Logs
  PODSCOPE_LOG_BUFFER        log lines a browser keeps per log view (default: 10000)

Terminals and port-forwards (docs/terminals.md)
  PODSCOPE_EXEC_MAX_SESSIONS terminals one person may have open at once (default: 4)
  PODSCOPE_EXEC_MAX_INPUT    bytes one terminal input message may carry (default: 65536)
  PODSCOPE_EXEC_KEEPALIVE    seconds between keep-alive pings on both legs of a terminal (default: 20)
  PODSCOPE_RECORD_SESSIONS   "1" records every terminal's output as asciicast for the audit pages (default: off)
  PODSCOPE_RECORDINGS_DIR    where recordings are kept (default: <state dir>/recordings)

What one person may hold at once (docs/security.md)
  PODSCOPE_MAX_SOCKETS       websockets one person may hold open at once (default: 60)
  PODSCOPE_MAX_LOG_SOCKETS   log views one person may follow at once (default: 20)
  PODSCOPE_MAX_NAMESPACES    namespaces one person may watch at once, pages and sockets together (default: 30)
  PODSCOPE_MAX_SOCKET_OPENS  websockets one person may open per minute (default: 120)
  PODSCOPE_SOCKET_RECHECK    seconds between checks of open sockets' sessions and permissions (default: 10)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def _state_dir() -> Path:
    path = Path(os.environ.get("PODSCOPE_STATE_DIR") or BASE_DIR / "var").expanduser().resolve()
    # The directory holds the signing key and the user database: keep it private to this account.
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _secret_key(state_dir: Path) -> str:
    if key := os.environ.get("PODSCOPE_SECRET_KEY", "").strip():
        return key
    key_file = state_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    # Write the whole key under a temporary name, then link it into place: two processes starting
    # at once (daphne and a management command) agree on one key and never read a half-written file.
    fd, tmp_name = tempfile.mkstemp(dir=state_dir, prefix=".secret_key.")  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as tmp:
            tmp.write(secrets.token_urlsafe(50) + "\n")
        # Losing the race is fine: the other process's key is read back below.
        with contextlib.suppress(FileExistsError):
            os.link(tmp_name, key_file)
    finally:
        os.unlink(tmp_name)
    return key_file.read_text().strip()


STATE_DIR = _state_dir()
SECRET_KEY = _secret_key(STATE_DIR)
DEBUG = _env_bool("PODSCOPE_DEBUG", False)
ALLOWED_HOSTS = _env_list("PODSCOPE_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = _env_list("PODSCOPE_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # daphne first, so its runserver (ASGI, websockets included) replaces Django's WSGI one.
    "daphne",
    "channels",
    "django_htmx",
    "django.contrib.staticfiles",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "dashboard",
    # Failed sign-in limits (see "Failed sign-ins" below).
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # A strict Content-Security-Policy on every page (dashboard/headers.py).
    "dashboard.headers.content_security_policy",
    # Before anything reads request.POST: refuses form bodies in charsets other than UTF-8 (415).
    "dashboard.form_charsets.form_charset_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in user unless its view opts out (only login does).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Failed sign-in limits: turns a refused sign-in into the lockout page. Axes wants it last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
ASGI_APPLICATION = "dashboard.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "dashboard.context.podscope",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": STATE_DIR / "db.sqlite3",
        # Many people at once write small rows (sessions, sign-in attempts, audit rows). SQLite's default deferred
        # transactions fail at once with "database is locked" when two of them read and then write, so writers
        # queue instead (IMMEDIATE), for up to 20 s, and readers never wait for them (WAL).
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# One process serves a classroom; a shared layer (Redis) only matters once there are several.
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Failed sign-ins (django-axes; docs/permissions.md) ---------------------------------------------------
# Every guess costs a PBKDF2 hash in the one daphne process, so guesses are limited per account (from any
# address) and per client address (on any accounts). Lock when either is over its limit; failures older than
# the cool-off stop counting, so a lock lifts by itself. A classroom of 30 often shares one NAT address, so the
# address limit is high (ten accounts' worth): students mistyping do not lock the class out, yet one address
# costs at most that many hashes per cool-off.
PODSCOPE_LOGIN_FAILURES = max(1, int(os.environ.get("PODSCOPE_LOGIN_FAILURES") or 10))
PODSCOPE_LOGIN_ADDRESS_FAILURES = max(
    PODSCOPE_LOGIN_FAILURES, int(os.environ.get("PODSCOPE_LOGIN_ADDRESS_FAILURES") or 100)
)
# AxesStandaloneBackend refuses a locked sign-in before ModelBackend hashes the password; ModelBackend stays
# (views.login_token signs people in with it by name).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Axes has one limit for both parameters; this answers the account or the address limit (dashboard/login_limits.py).
AXES_FAILURE_LIMIT = "dashboard.login_limits.failure_limit"
AXES_COOLOFF_TIME = timedelta(minutes=max(1, int(os.environ.get("PODSCOPE_LOGIN_LOCKOUT_MINUTES") or 15)))
# Attempts while locked neither count nor extend the lock, so the page's "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe failures: with the address as a parameter it would also wipe the failures of every
# other account from that address, so signing in to one's own account would reset a guesser's count.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "dashboard.login_limits.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The client is REMOTE_ADDR, never X-Forwarded-For: Podscope usually faces browsers directly. Behind a proxy,
# daphne --proxy-headers puts the forwarded client into REMOTE_ADDR itself (and only a proxy should set it).
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Failures are what the limits need; a row for every successful sign-in would only collect addresses.
AXES_DISABLE_ACCESS_LOG = True
# --- end of failed sign-ins ----------------------------------------------------------------------------------

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PODSCOPE_LOGIN_LINK_TTL = int(os.environ.get("PODSCOPE_LOGIN_LINK_TTL") or 12 * 3600)
PODSCOPE_LOG_BUFFER = max(100, int(os.environ.get("PODSCOPE_LOG_BUFFER") or 10_000))
# Terminals and port-forwards (docs/terminals.md).
PODSCOPE_EXEC_MAX_SESSIONS = max(1, int(os.environ.get("PODSCOPE_EXEC_MAX_SESSIONS") or 4))
PODSCOPE_EXEC_MAX_INPUT = max(1024, int(os.environ.get("PODSCOPE_EXEC_MAX_INPUT") or 64 * 1024))
# Seconds between keep-alive pings on both legs of a terminal: browser to Podscope, Podscope to the API server.
# Well under the 60 s idle timeout common in proxies and load balancers.
PODSCOPE_EXEC_KEEPALIVE = max(0.2, float(os.environ.get("PODSCOPE_EXEC_KEEPALIVE") or 20))
PODSCOPE_RECORD_SESSIONS = _env_bool("PODSCOPE_RECORD_SESSIONS", False)
# What one person may hold at once (docs/security.md): more is refused with close code 4429 and a sentence.
PODSCOPE_MAX_SOCKETS = max(1, int(os.environ.get("PODSCOPE_MAX_SOCKETS") or 60))
PODSCOPE_MAX_LOG_SOCKETS = max(1, int(os.environ.get("PODSCOPE_MAX_LOG_SOCKETS") or 20))
# A teacher looking into each student's namespace of a class of thirty.
PODSCOPE_MAX_NAMESPACES = max(1, int(os.environ.get("PODSCOPE_MAX_NAMESPACES") or 30))
PODSCOPE_MAX_SOCKET_OPENS = max(1, int(os.environ.get("PODSCOPE_MAX_SOCKET_OPENS") or 120))
# Seconds between checks that each open socket's session, account and permission still hold. Signing out closes
# a session's sockets at once, and a change to an account or group brings the next check forward.
PODSCOPE_SOCKET_RECHECK = max(0.1, float(os.environ.get("PODSCOPE_SOCKET_RECHECK") or 10))
PODSCOPE_RECORDINGS_DIR = Path(os.environ.get("PODSCOPE_RECORDINGS_DIR") or STATE_DIR / "recordings")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = STATE_DIR / "static"
# Podscope runs as one daphne process with no web server in front of it, so the ASGI app serves
# /static/ itself even with DEBUG off (see asgi.py). A deployment behind nginx turns this off.
PODSCOPE_SERVE_STATIC = _env_bool("PODSCOPE_SERVE_STATIC", True)

# Cookies and headers that are safe on plain http://localhost as well as behind HTTPS.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True  # htmx gets the token from the page, never from the cookie
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# `check --deploy` warns about the four settings below (W004, W008, W012, W016) unless
# PODSCOPE_HTTPS is on. They stay off by default because the usual way to run Podscope is plain
# http://localhost on a teacher's laptop, where secure-only cookies would make logging in
# impossible and an https redirect or HSTS would lock the browser out of the dashboard.
# Behind a TLS proxy, run daphne with --proxy-headers so requests are seen as https.
if _env_bool("PODSCOPE_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    # A day, not a year: short enough to back out of while a classroom setup is still changing.
    # Subdomains and preload (W005, W021) commit the whole domain, which is not Podscope's to decide.
    SECURE_HSTS_SECONDS = 86400

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["stderr"], "level": os.environ.get("PODSCOPE_LOG_LEVEL", "INFO").upper()},
    "loggers": {
        # Django's default handlers (console when DEBUG, mail to admins) would print twice or mail
        # nobody; everything goes through the root handler instead.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
    },
}
