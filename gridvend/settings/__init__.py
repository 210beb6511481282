"""Django settings for gridvend, read from GRIDVEND_* environment variables (docs/deployment.md)."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from gridvend.configuration import (
    ConfigurationError,
    database_from_url,
    email_settings,
    environment,
    escpos_printers,
    http_url,
    job_cluster,
    session_limits,
    web_server,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
PACKAGE_DIR = Path(__file__).resolve().parent.parent

env = environment()
# pytest announces itself in PYTEST_VERSION; the test settings below never apply elsewhere.
TESTING = env.get_bool("GRIDVEND_TESTING", False) or "PYTEST_VERSION" in env.values

DEBUG = env.get_bool("GRIDVEND_DEBUG", False)
DEMO_MODE = env.get_bool("GRIDVEND_DEMO", False)
# What demo and test runs use when no key is given; `gridvend check --deploy` refuses both.
DEMO_SECRET_KEY = "insecure-development-key-do-not-use-in-production-0123456789"
DEMO_MASTER_KEY = bytes.fromhex("00" * 16 + b"demo-and-test-only-master-key!!!".hex()[:32])
_secret = env.get_str("GRIDVEND_SECRET_KEY", "")
if not _secret:
    if not (DEBUG or DEMO_MODE or TESTING):
        raise ConfigurationError(
            "GRIDVEND_SECRET_KEY is not set; production needs a long random value "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    _secret = DEMO_SECRET_KEY
SECRET_KEY = _secret

# The master key encrypts vending keys at rest (AES-256-GCM): 64 hex digits, kept outside the
# database. Demo and test runs fall back to a fixed, public key and say so in the key store.
_master = env.get_str("GRIDVEND_MASTER_KEY", "")
if not _master:
    if not (DEBUG or DEMO_MODE or TESTING):
        raise ConfigurationError(
            "GRIDVEND_MASTER_KEY is not set; vending keys cannot be protected "
            "(python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    _master = DEMO_MASTER_KEY.hex()
try:
    MASTER_KEY = bytes.fromhex(_master)
except ValueError:
    raise ConfigurationError("GRIDVEND_MASTER_KEY must be 64 hexadecimal digits") from None
if len(MASTER_KEY) != 32:
    raise ConfigurationError("GRIDVEND_MASTER_KEY must be 64 hexadecimal digits (32 bytes)")
INSECURE_MASTER_KEY = not env.get_str("GRIDVEND_MASTER_KEY", "")
# During a master-key rotation (docs/key-management.md) every process also holds the key being
# retired, so rows sealed under either open; `gridvend keys rotate-master` re-seals them all.
_previous_master = env.get_str("GRIDVEND_MASTER_KEY_PREVIOUS", "")
MASTER_KEY_PREVIOUS: bytes | None = None
if _previous_master:
    try:
        MASTER_KEY_PREVIOUS = bytes.fromhex(_previous_master)
    except ValueError:
        raise ConfigurationError(
            "GRIDVEND_MASTER_KEY_PREVIOUS must be 64 hexadecimal digits"
        ) from None
    if len(MASTER_KEY_PREVIOUS) != 32:
        raise ConfigurationError(
            "GRIDVEND_MASTER_KEY_PREVIOUS must be 64 hexadecimal digits (32 bytes)"
        )
    if MASTER_KEY_PREVIOUS == MASTER_KEY:
        raise ConfigurationError(
            "GRIDVEND_MASTER_KEY_PREVIOUS is the same as GRIDVEND_MASTER_KEY; give the new key "
            "in GRIDVEND_MASTER_KEY and the one being retired in GRIDVEND_MASTER_KEY_PREVIOUS"
        )
# How long a server keeps a decrypted vending key before reading its row again (deactivation
# reaches every server within this time).
VENDING_KEY_CACHE_SECONDS = env.get_int("GRIDVEND_VENDING_KEY_CACHE_SECONDS", 30)
# The token engine: "software" (the built-in STS engine, keys from the key store) or "pkcs11"
# (decoder keys derived in a hardware security module, gridvend.keys.hsm; DKGA04 keys only).
TOKEN_ENGINE = env.get_str("GRIDVEND_TOKEN_ENGINE", "software")
if TOKEN_ENGINE not in ("software", "pkcs11"):
    raise ConfigurationError("GRIDVEND_TOKEN_ENGINE must be software or pkcs11")
HSM_PKCS11_MODULE = env.get_str("GRIDVEND_HSM_PKCS11_MODULE", "")
HSM_TOKEN_LABEL = env.get_str("GRIDVEND_HSM_TOKEN_LABEL", "")
# The name of the environment variable that holds the HSM user PIN (never the PIN itself).
HSM_PIN_ENV = env.get_str("GRIDVEND_HSM_PIN_ENV", "GRIDVEND_HSM_PIN")
if TOKEN_ENGINE == "pkcs11" and not (HSM_PKCS11_MODULE and HSM_TOKEN_LABEL):
    raise ConfigurationError(
        "GRIDVEND_TOKEN_ENGINE=pkcs11 needs GRIDVEND_HSM_PKCS11_MODULE and GRIDVEND_HSM_TOKEN_LABEL"
    )
# A key ceremony not finished within this many minutes is abandoned (its components forgotten).
KEY_CEREMONY_MINUTES = env.get_int("GRIDVEND_KEY_CEREMONY_MINUTES", 30, minimum=1)

# What the partner API's meter lookup tells of the customer's address: "full", "masked" (each
# word's first letter) or "none".
API_ADDRESS_DISCLOSURE = env.get_str("GRIDVEND_API_ADDRESS_DISCLOSURE", "masked")
if API_ADDRESS_DISCLOSURE not in ("full", "masked", "none"):
    raise ImproperlyConfigured("GRIDVEND_API_ADDRESS_DISCLOSURE must be full, masked or none")

# Sales may be reversed within this many hours, by a user with the finance capability.
REVERSAL_WINDOW_HOURS = env.get_int("GRIDVEND_REVERSAL_WINDOW_HOURS", 72, minimum=0)
# A settlement item's resolution (accept, reverse, write off) above this amount, in minor units,
# needs a second person with the finance capability to approve it (0: every resolution does).
SETTLEMENT_RESOLUTION_APPROVAL_MINOR = env.get_int(
    "GRIDVEND_SETTLEMENT_RESOLUTION_APPROVAL_MINOR", 100_000, minimum=0
)
# Free issues above this many kWh need a second person with the finance capability to approve...
FREE_ISSUE_APPROVAL_KWH = env.get_int("GRIDVEND_FREE_ISSUE_APPROVAL_KWH", 20, minimum=0)
# ...counted together over this many hours, per meter and per issuer, so that the limit cannot be
# split into several small free issues.
FREE_ISSUE_PERIOD_HOURS = env.get_int("GRIDVEND_FREE_ISSUE_PERIOD_HOURS", 24, minimum=1)
# A partner's float top-up at or below this many minor units may be recorded by one person; above
# it a second person with the finance capability approves it (0: every top-up needs two people).
FLOAT_TOP_UP_APPROVAL_MINOR = env.get_int("GRIDVEND_FLOAT_TOP_UP_APPROVAL_MINOR", 0, minimum=0)
# A shift open longer than this many hours counts as abandoned: a supervisor of its vending point
# may then force-close it (with a reason; nothing is counted).
SHIFT_ABANDON_HOURS = env.get_int("GRIDVEND_SHIFT_ABANDON_HOURS", 16, minimum=1)
# Blind cash counts: the cashier counts the drawer without seeing what is expected in it; the
# expected amounts and the over/short appear on the Z report once the shift is closed.
BLIND_CASH_COUNT = env.get_bool("GRIDVEND_BLIND_CASH_COUNT", True)
# Units left in a replaced meter that an installer may move to the new one without finance.
CREDIT_TRANSFER_LIMIT_KWH = env.get_int("GRIDVEND_CREDIT_TRANSFER_LIMIT_KWH", 200, minimum=0)
# Service-level targets: hours to resolve a fault, per category (docs/supervisor.md). Override
# some with GRIDVEND_FAULT_SLA_HOURS="no_supply=8,meter_tamper=24".
FAULT_SLA_HOURS = env.get_int_map(
    "GRIDVEND_FAULT_SLA_HOURS",
    {
        "no_supply": 24,
        "meter_tamper": 72,
        "token_rejected": 24,
        "display_fault": 72,
        "keypad_fault": 72,
        "meter_damaged": 48,
        "wires_down": 4,
        "billing_query": 120,
        "other": 120,
    },
    minimum=1,
)
# Upper limits of what any screen, import or API accepts, in major units of the currency (and
# kWh): a typed amount above them is refused before any arithmetic is done with it.
MAX_SALE_AMOUNT = env.get_int("GRIDVEND_MAX_SALE_AMOUNT", 1_000_000, minimum=1)
MAX_SALE_KWH = env.get_int("GRIDVEND_MAX_SALE_KWH", 100_000, minimum=1)
MAX_FLOAT_AMOUNT = env.get_int("GRIDVEND_MAX_FLOAT_AMOUNT", 10_000_000, minimum=1)
MAX_CASH_COUNT = env.get_int("GRIDVEND_MAX_CASH_COUNT", 100_000_000, minimum=1)
MAX_DEBT_AMOUNT = env.get_int("GRIDVEND_MAX_DEBT_AMOUNT", 10_000_000, minimum=1)
# The largest postpaid bill payment one request may carry, in minor units.
BILL_PAYMENT_MAX_MINOR = env.get_int("GRIDVEND_BILL_PAYMENT_MAX_MINOR", 100_000_000, minimum=1)
# Prepaid wallets (docs/wallet.md): the largest single top-up, in minor units; the card payment
# providers by code (the sandbox, which credits wallets with pretend money, only where it is
# asked for: the demo and the tests turn it on, production never should).
WALLET_TOP_UP_MAX_MINOR = env.get_int("GRIDVEND_WALLET_TOP_UP_MAX_MINOR", 100_000_000, minimum=1)
WALLET_SANDBOX = env.get_bool("GRIDVEND_WALLET_SANDBOX", DEMO_MODE or TESTING)
WALLET_CARD_PROVIDERS = (
    {"sandbox": "gridvend.wallet.providers.SandboxCardProvider"} if WALLET_SANDBOX else {}
)
# Who sells the auto-purchases (a vending point of the web channel, by code, and its service
# account, by username); unset: auto-purchase is logged and skipped.
# In demo mode the demo's own seller (gridvend/demo/wallet.py makes them).
WALLET_VENDING_POINT = env.get_str(
    "GRIDVEND_WALLET_VENDING_POINT", "demo-wallet" if DEMO_MODE and not TESTING else ""
)
WALLET_SELLER = env.get_str(
    "GRIDVEND_WALLET_SELLER", "wallet.seller" if DEMO_MODE and not TESTING else ""
)
# The secret the sandbox signs its callbacks with (a real provider's comes from its set-up).
WALLET_SANDBOX_SECRET = env.get_str("GRIDVEND_WALLET_SANDBOX_SECRET", "sandbox-" + SECRET_KEY[:32])
# The smallest coin in circulation, in minor units of the currency: a sale by kWh asks for a sum
# that cash can pay (rounded up to it; the extra buys energy).
SMALLEST_COIN_MINOR = env.get_int("GRIDVEND_SMALLEST_COIN_MINOR", 1, minimum=1)
if SMALLEST_COIN_MINOR > 1_000_000:
    raise ConfigurationError("GRIDVEND_SMALLEST_COIN_MINOR must be at most 1000000")
for _name in (
    "MAX_SALE_AMOUNT",
    "MAX_SALE_KWH",
    "MAX_FLOAT_AMOUNT",
    "MAX_CASH_COUNT",
    "MAX_DEBT_AMOUNT",
):
    if globals()[_name] >= 10**12:
        raise ConfigurationError(f"GRIDVEND_{_name} must be below 10^12")
# Largest file the bulk import takes, in bytes; checked before the file is opened.
IMPORT_MAX_BYTES = env.get_int("GRIDVEND_IMPORT_MAX_BYTES", 10 * 1024 * 1024, minimum=1)

VAR_DIR = Path(env.get_str("GRIDVEND_VAR_DIR", str(BASE_DIR / "var")))
_test_worker = env.values.get("PYTEST_XDIST_WORKER", "") if TESTING else ""
if re.fullmatch(r"gw\d{1,4}", _test_worker):
    # Tests run in parallel processes (pytest-xdist names them gw0, gw1...): each keeps its files
    # (checkpoints, SMS and mail files, exports) in a folder of its own, never one another's.
    VAR_DIR = VAR_DIR / f"test-{_test_worker}"
# Exports (docs/back-office.md): a list export of more rows than EXPORT_INLINE_ROWS is written by
# a job into EXPORT_DIR/<id>/ and downloaded from "My exports"; files are deleted after
# EXPORT_RETENTION_DAYS. One person may have EXPORT_MAX_ACTIVE exports waiting or running.
EXPORT_DIR = Path(env.get_str("GRIDVEND_EXPORT_DIR", str(VAR_DIR / "exports")))
# Backups (docs/operations.md): `gridvend backup` writes one file, encrypted with AES-256-GCM under
# the backup key, into BACKUP_DIR and keeps the BACKUP_KEEP newest; the worker takes one on
# BACKUP_CRON (the utility's time zone) when a backup key is set. The key is never the master key,
# which no backup holds.
_backup_key = env.get_str("GRIDVEND_BACKUP_KEY", "")
try:
    BACKUP_KEY = bytes.fromhex(_backup_key)
except ValueError:
    raise ConfigurationError("GRIDVEND_BACKUP_KEY must be 64 hexadecimal digits") from None
if _backup_key and len(BACKUP_KEY) != 32:
    raise ConfigurationError("GRIDVEND_BACKUP_KEY must be 64 hexadecimal digits (32 bytes)")
if BACKUP_KEY and BACKUP_KEY == MASTER_KEY:
    raise ConfigurationError("GRIDVEND_BACKUP_KEY must not be the master key")
if BACKUP_KEY and BACKUP_KEY == MASTER_KEY_PREVIOUS:
    # The backups hold the vending keys sealed under it: one key would open both.
    raise ConfigurationError("GRIDVEND_BACKUP_KEY must not be the previous master key")
# Report PDFs made at once in requests on this machine (each takes seconds of CPU); one per person.
REPORT_PDF_CONCURRENCY = env.get_int("GRIDVEND_REPORT_PDF_CONCURRENCY", 2, minimum=1)
BACKUP_DIR = Path(env.get_str("GRIDVEND_BACKUP_DIR", str(VAR_DIR / "backups")))
BACKUP_KEEP = env.get_int("GRIDVEND_BACKUP_KEEP", 14, minimum=1)
BACKUP_CRON = env.get_str("GRIDVEND_BACKUP_CRON", "15 1 * * *")
EXPORT_INLINE_ROWS = env.get_int("GRIDVEND_EXPORT_INLINE_ROWS", 5000, minimum=0)
EXPORT_RETENTION_DAYS = env.get_int("GRIDVEND_EXPORT_RETENTION_DAYS", 7, minimum=1)
EXPORT_MAX_ACTIVE = env.get_int("GRIDVEND_EXPORT_MAX_ACTIVE", 3, minimum=1)
# The job records its progress every so many rows, each time in a short transaction of its own.
EXPORT_PROGRESS_ROWS = env.get_int("GRIDVEND_EXPORT_PROGRESS_ROWS", 5000, minimum=1)
# An export is written by a thread whose nice value is raised to this (Linux, 0-19; 0: written in
# the job's own thread, at the worker's priority): a national export then takes only the CPU that
# sales leave idle. Tests default to 0, because a thread has its own database connection and
# cannot see a test's uncommitted rows; the tests that run exports committed turn it on.
EXPORT_NICE = env.get_int("GRIDVEND_EXPORT_NICE", 0 if TESTING else 10, minimum=0)
if EXPORT_NICE > 19:
    raise ConfigurationError("GRIDVEND_EXPORT_NICE must be at most 19")

# Reports (docs/reports.md): the sales roll-up folds sales and reversals older than
# REPORT_ROLLUP_LAG_SECONDS (longer than any sale's transaction, so none commits behind the
# watermark), at most REPORT_ROLLUP_BATCH of each per transaction, every REPORT_ROLLUP_CRON.
REPORT_ROLLUP_LAG_SECONDS = env.get_int("GRIDVEND_REPORT_ROLLUP_LAG_SECONDS", 300, minimum=0)
REPORT_ROLLUP_BATCH = env.get_int("GRIDVEND_REPORT_ROLLUP_BATCH", 50000, minimum=1)
REPORT_ROLLUP_CRON = env.get_str("GRIDVEND_REPORT_ROLLUP_CRON", "*/10 * * * *")
# The abnormal-customers findings snapshot (``gridvend.reports.abnormal_snapshot``): computed for
# the day just closed every REPORT_ABNORMAL_SNAPSHOT_CRON (utility's time zone; after midnight
# and after the last sales of the day have committed), kept REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS.
REPORT_ABNORMAL_SNAPSHOT_CRON = env.get_str("GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_CRON", "20 0 * * *")
REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS = env.get_int(
    "GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS", 14, minimum=1
)
if REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS > 400:
    raise ConfigurationError("GRIDVEND_REPORT_ABNORMAL_SNAPSHOT_KEEP_DAYS must be at most 400")
# Report subscriptions (gridvend.reports.subscriptions): at most this many per user; the job
# that sends the due ones runs every REPORT_SUBSCRIPTIONS_CRON (hourly, so a missed run is made
# up the same day; each period is sent once); a file larger than
# REPORT_SUBSCRIPTION_ATTACHMENT_BYTES is replaced by a short e-mail with a link to the report on
# GRIDVEND_PUBLIC_URL (the outbox carries at most 150,000 bytes of files per message).
REPORT_SUBSCRIPTIONS_MAX_PER_USER = env.get_int(
    "GRIDVEND_REPORT_SUBSCRIPTIONS_MAX_PER_USER", 20, minimum=0
)
REPORT_SUBSCRIPTIONS_CRON = env.get_str("GRIDVEND_REPORT_SUBSCRIPTIONS_CRON", "7 * * * *")
# Send dates a run looks back over: a worker stopped for up to this many days sends every period
# it missed when it starts again (oldest first, each once).
REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS = env.get_int(
    "GRIDVEND_REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS", 7, minimum=1
)
if REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS > 62:
    raise ConfigurationError("GRIDVEND_REPORT_SUBSCRIPTIONS_CATCH_UP_DAYS must be at most 62")
REPORT_SUBSCRIPTION_ATTACHMENT_BYTES = env.get_int(
    "GRIDVEND_REPORT_SUBSCRIPTION_ATTACHMENT_BYTES", 150_000, minimum=1
)
PUBLIC_URL = env.get_str("GRIDVEND_PUBLIC_URL", "http://localhost:8000").rstrip("/")
# Signed checkpoints of the audit chain's end, outside the database (docs/tamper-evidence.md).
AUDIT_CHECKPOINT_FILE = Path(
    env.get_str("GRIDVEND_AUDIT_CHECKPOINT_FILE", str(VAR_DIR / "audit-checkpoints.jsonl"))
)
ALLOWED_HOSTS = env.get_list("GRIDVEND_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.get_list("GRIDVEND_CSRF_TRUSTED_ORIGINS", [])

DATABASES = {
    "default": database_from_url(
        env.get_str("GRIDVEND_DATABASE_URL", "sqlite:///var/gridvend.sqlite3"), base_dir=BASE_DIR
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A PostgreSQL streaming replica for the reports' reads (gridvend.routers; docs/scaling.md).
# Unset, every read goes to the default database. Nothing is ever written there.
_replica_url = env.get_str("GRIDVEND_REPLICA_DATABASE_URL", "")
if _replica_url:
    DATABASES["replica"] = database_from_url(_replica_url, base_dir=BASE_DIR)
    if not DATABASES["replica"]["ENGINE"].endswith("postgresql"):
        raise ConfigurationError("GRIDVEND_REPLICA_DATABASE_URL must be a postgresql:// URL")
    # The suite never creates or migrates it: it is a copy of the default database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["gridvend.routers.ReplicaRouter"]

# The bank link's TCP listeners (`gridvend banklink serve`, docs/bank-link.md): the address they
# bind, one port per bank (set on the bank's link), and TLS when both a certificate and its key
# (PEM files) are given; without them the link is plain TCP, for a private line or a VPN.
BANKLINK_HOST = env.get_str("GRIDVEND_BANKLINK_HOST", "127.0.0.1")
BANKLINK_TLS_CERT = env.get_str("GRIDVEND_BANKLINK_TLS_CERT", "")
BANKLINK_TLS_KEY = env.get_str("GRIDVEND_BANKLINK_TLS_KEY", "")
if bool(BANKLINK_TLS_CERT) != bool(BANKLINK_TLS_KEY):
    raise ConfigurationError("GRIDVEND_BANKLINK_TLS_CERT and _KEY are set together or not at all")
# Billpay v4 wants currencies as 3-digit ISO 4217 codes ("710"); the 2019 test pack sends the
# letters ("ZAR"). Lenient (the default) takes both; off, only the digits.
BILLPAY_LENIENT_CURRENCY = env.get_bool("GRIDVEND_BILLPAY_LENIENT_CURRENCY", True)
# A Billpay refund accepted on the payment's business day may be confirmed after midnight within
# this grace (its cancel is judged as of the acceptance); later, the day is judged at the
# confirmation, so a refund left pending for days cannot cancel a payment of days ago.
BILLPAY_REFUND_GRACE_SECONDS = env.get_int(
    "GRIDVEND_BILLPAY_REFUND_GRACE_SECONDS", 6 * 3600, minimum=0
)
# At most this many bank connections are served at once per process; more wait to be accepted.
BANKLINK_MAX_CONNECTIONS = env.get_int("GRIDVEND_BANKLINK_MAX_CONNECTIONS", 32, minimum=1)

# The handheld terminals' gateway (`gridvend terminals serve`, docs/terminals.md): the address and
# port it listens on, the largest frame body it reads, how long a connection may take to send its
# one request, how far a message's time may be from the server's, how long a one-time enrolment
# code lasts, and how many connections are served at once.
TERMINALS_HOST = env.get_str("GRIDVEND_TERMINALS_HOST", "127.0.0.1")
TERMINALS_PORT = env.get_int("GRIDVEND_TERMINALS_PORT", 7020, minimum=0)
TERMINALS_MAX_BODY_BYTES = env.get_int("GRIDVEND_TERMINALS_MAX_BODY_BYTES", 16384, minimum=256)
if TERMINALS_MAX_BODY_BYTES > 65535:
    raise ConfigurationError("GRIDVEND_TERMINALS_MAX_BODY_BYTES is at most 65535 (2-byte length)")
TERMINALS_READ_TIMEOUT_SECONDS = env.get_int(
    "GRIDVEND_TERMINALS_READ_TIMEOUT_SECONDS", 15, minimum=1
)
TERMINALS_CLOCK_SKEW_SECONDS = env.get_int("GRIDVEND_TERMINALS_CLOCK_SKEW_SECONDS", 300, minimum=1)
TERMINALS_AGENT_SESSION_HOURS = env.get_int("GRIDVEND_TERMINALS_AGENT_SESSION_HOURS", 12, minimum=1)
TERMINALS_ENROLMENT_HOURS = env.get_int("GRIDVEND_TERMINALS_ENROLMENT_HOURS", 72, minimum=1)
TERMINALS_MAX_CONNECTIONS = env.get_int("GRIDVEND_TERMINALS_MAX_CONNECTIONS", 64, minimum=1)
# A field agent's cash-in-transit limit until the office sets the agent's own (minor units):
# a collection or cash sale that would take the cash the agent holds above it is refused.
TERMINALS_CASH_LIMIT_MINOR = env.get_int(
    "GRIDVEND_TERMINALS_CASH_LIMIT_MINOR", 5_000_000, minimum=0
)
if TERMINALS_CASH_LIMIT_MINOR >= 10**12:
    raise ConfigurationError("GRIDVEND_TERMINALS_CASH_LIMIT_MINOR must be below 10^12")

# Offline stations (docs/stations.md): how far a station's clock may be from this install's
# (signed requests outside it are refused), the largest upload body, and how long a one-time
# enrolment code lasts.
STATION_CLOCK_SKEW_SECONDS = env.get_int("GRIDVEND_STATION_CLOCK_SKEW_SECONDS", 300, minimum=1)
STATION_MAX_BODY_BYTES = env.get_int(
    "GRIDVEND_STATION_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=64 * 1024
)
STATION_ENROLMENT_HOURS = env.get_int("GRIDVEND_STATION_ENROLMENT_HOURS", 72, minimum=1)
# A station's cashier screen turns amber when its data is older than this (docs/stations.md).
STATION_STALE_HOURS = env.get_int("GRIDVEND_STATION_STALE_HOURS", 24, minimum=1)

# Mobile money (docs/mobile.md): the addresses the provider's callbacks may come from (addresses
# or networks; Safaricom publishes its own), and the adapter of each provider kind.
MOBILEMONEY_CALLBACK_IPS = env.get_list(
    "GRIDVEND_MOBILEMONEY_CALLBACK_IPS", ["127.0.0.1/32", "::1/128"]
)
MOBILEMONEY_ADAPTERS = {
    "daraja": "gridvend.gateways.mobilemoney.daraja.DarajaProvider",
    "sandbox": "gridvend.gateways.mobilemoney.sandbox.SandboxProvider",
}

# Phone channels (docs/mobile.md): USSD and two-way SMS through Africa's Talking. The addresses
# its callbacks may come from; the paybill whose STK push they use (empty: the only enabled
# one); the USSD code and SMS short code customers are told; how long a USSD session lives;
# and each phone's budget of USSD sessions and SMS commands an hour.
PHONE_CALLBACK_IPS = env.get_list("GRIDVEND_PHONE_CALLBACK_IPS", ["127.0.0.1/32", "::1/128"])
PHONE_PAYBILL = env.get_text("GRIDVEND_PHONE_PAYBILL", "", max_length=30)
USSD_CODE = env.get_text("GRIDVEND_USSD_CODE", "*384*1#", max_length=30)
SMS_SHORTCODE = env.get_text("GRIDVEND_SMS_SHORTCODE", "40400", max_length=20)
USSD_SESSION_SECONDS = env.get_int("GRIDVEND_USSD_SESSION_SECONDS", 180, minimum=10)
PHONE_USSD_SESSIONS_PER_HOUR = env.get_int("GRIDVEND_PHONE_USSD_SESSIONS_PER_HOUR", 30, minimum=1)
PHONE_SMS_PER_HOUR = env.get_int("GRIDVEND_PHONE_SMS_PER_HOUR", 10, minimum=1)

# The cache holds what every server process must share: partners' rate-limit counters and the
# request signatures already seen. GRIDVEND_CACHE_URL=redis://host:6379/0 puts it in Redis;
# unset, it is a table of the database (`gridvend createcachetable`), shared by every process
# that uses the database. A per-process memory cache would let each process
# count its own limit and accept a signature another process has already seen.
_cache_url = env.get_str("GRIDVEND_CACHE_URL", "")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://", "unix://")):
    raise ConfigurationError("GRIDVEND_CACHE_URL must be a redis://, rediss:// or unix:// URL")
CACHES: dict[str, dict[str, object]] = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _cache_url,
            "KEY_PREFIX": "gridvend",
        }
        if _cache_url
        else {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "gridvend_cache",
            "KEY_PREFIX": "gridvend",
            # The cache holds rate counters and the signatures already accepted (the replay
            # window): culling live entries at Django's default of 300 would reset a counter or
            # forget a signature, so only expired rows are ever removed.
            "OPTIONS": {"MAX_ENTRIES": 100_000_000},
        }
    )
}
# The job cluster's own status (gridvend.jobs): written twice a second by each worker, read by
# nothing that needs it shared, so kept in the worker's memory rather than in the shared cache.
CACHES["jobs"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "gridvend-jobs",
}
# Partners' API keys are stored as HMAC digests under this pepper; unset, it is derived from
# GRIDVEND_SECRET_KEY (changing either then invalidates every issued key).
API_KEY_PEPPER = env.get_str("GRIDVEND_API_KEY_PEPPER", "")
# The statements every sale runs are prepared on PostgreSQL (gridvend.rows.cursor). Off behind a
# connection pooler in transaction mode (PgBouncer before 1.21), which cannot keep them.
PREPARED_STATEMENTS = env.get_bool("GRIDVEND_PREPARED_STATEMENTS", True)


TIME_ZONE = env.time_zone("GRIDVEND_TIME_ZONE", "Africa/Nairobi")
USE_TZ = True
CURRENCY = env.currency("GRIDVEND_CURRENCY", "KES")
# The country a phone number written without its country code belongs to ("0745 275 900" is
# +254745275900 in Kenya); every stored number is E.164 (gridvend.kernel.phones).
DEFAULT_COUNTRY = env.country("GRIDVEND_DEFAULT_COUNTRY", "KE")
UTILITY_NAME = env.get_str("GRIDVEND_UTILITY_NAME", "gridvend utility")
# Printed on every receipt when set: the utility's tax (VAT/PIN) registration number, and the
# telephone number customers call about tokens and supply.
TAX_REGISTRATION_NUMBER = env.get_text("GRIDVEND_TAX_REGISTRATION_NUMBER", "", max_length=40)
HELPLINE = env.get_text("GRIDVEND_HELPLINE", "", max_length=60)
# ESC/POS receipt printers on the network, for printing without a dialogue (docs/cashier.md):
# "host:port" for every vending point, or "CODE=host:port,..." per point. Unset: none.
ESCPOS_PRINTERS = escpos_printers(env)

# Background jobs (django-q2, ORM broker on the default database, so that a job enqueued inside
# a transaction commits or rolls back with it; docs/deployment.md "The worker").
Q_CLUSTER = job_cluster(
    env,
    sqlite=DATABASES["default"]["ENGINE"].endswith("sqlite3"),
    time_zone=TIME_ZONE,
)
# Each `gridvend worker` writes a heartbeat row every WORKER_HEARTBEAT_SECONDS; /readyz and
# `gridvend check --deploy` count a worker as running while its heartbeat is younger than
# WORKER_STALE_SECONDS.
WORKER_HEARTBEAT_SECONDS = env.get_int("GRIDVEND_WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
WORKER_STALE_SECONDS = env.get_int("GRIDVEND_WORKER_STALE_SECONDS", 120, minimum=2)
if WORKER_STALE_SECONDS <= WORKER_HEARTBEAT_SECONDS:
    raise ConfigurationError(
        "GRIDVEND_WORKER_STALE_SECONDS must be more than GRIDVEND_WORKER_HEARTBEAT_SECONDS"
    )
if WORKER_STALE_SECONDS > 86400:
    raise ConfigurationError("GRIDVEND_WORKER_STALE_SECONDS must be at most 86400")
# The outbox (gridvend.jobs.outbox): a message is tried this many times, the n-th retry waiting
# OUTBOX_BACKOFF_SECONDS * 2^(n-1), at most OUTBOX_BACKOFF_MAX_SECONDS; a message being sent is
# taken back after OUTBOX_LEASE_SECONDS (its worker died), which must outlast any one delivery.
OUTBOX_MAX_ATTEMPTS = env.get_int("GRIDVEND_OUTBOX_MAX_ATTEMPTS", 8, minimum=1)
OUTBOX_BACKOFF_SECONDS = env.get_int("GRIDVEND_OUTBOX_BACKOFF_SECONDS", 30, minimum=1)
OUTBOX_BACKOFF_MAX_SECONDS = env.get_int(
    "GRIDVEND_OUTBOX_BACKOFF_MAX_SECONDS", 6 * 3600, minimum=OUTBOX_BACKOFF_SECONDS
)
OUTBOX_LEASE_SECONDS = env.get_int("GRIDVEND_OUTBOX_LEASE_SECONDS", 600, minimum=30)
if OUTBOX_MAX_ATTEMPTS > 100:
    raise ConfigurationError("GRIDVEND_OUTBOX_MAX_ATTEMPTS must be at most 100")
if OUTBOX_BACKOFF_MAX_SECONDS > 7 * 24 * 3600:
    raise ConfigurationError("GRIDVEND_OUTBOX_BACKOFF_MAX_SECONDS must be at most a week")

# Notifications (gridvend.notifications): where SMS and e-mail go. "console" prints them (the
# default of the demo and of GRIDVEND_DEBUG), "file" writes one file per message into a
# directory, "africastalking" posts SMS to Africa's Talking, "smtp" sends e-mail; "off" (the
# default elsewhere) queues nothing.
_notify_default = "console" if (DEBUG or DEMO_MODE) else "off"
SMS_BACKEND = env.get_str("GRIDVEND_SMS_BACKEND", _notify_default).strip().lower()
if SMS_BACKEND not in {"off", "console", "file", "africastalking"}:
    raise ConfigurationError(
        f"GRIDVEND_SMS_BACKEND must be off, console, file or africastalking, not {SMS_BACKEND!r}"
    )
SMS_FILE_DIR = Path(env.get_str("GRIDVEND_SMS_FILE_DIR", str(VAR_DIR / "sms")))
SMS_AT_URL = http_url(
    env, "GRIDVEND_SMS_AT_URL", "https://api.africastalking.com/version1/messaging"
)
SMS_AT_USERNAME = env.get_text("GRIDVEND_SMS_AT_USERNAME", "", max_length=100)
SMS_AT_API_KEY = env.get_str("GRIDVEND_SMS_AT_API_KEY", "").strip()
SMS_SENDER_ID = env.get_text("GRIDVEND_SMS_SENDER_ID", "", max_length=20)
SMS_TIMEOUT_SECONDS = env.get_int("GRIDVEND_SMS_TIMEOUT_SECONDS", 15, minimum=1)
if SMS_BACKEND == "africastalking" and not (SMS_AT_USERNAME and SMS_AT_API_KEY):
    raise ConfigurationError(
        "GRIDVEND_SMS_BACKEND=africastalking needs GRIDVEND_SMS_AT_USERNAME and "
        "GRIDVEND_SMS_AT_API_KEY"
    )
_email = email_settings(env, default_backend=_notify_default, var_dir=VAR_DIR)
# EMAIL_CHANNEL is the GRIDVEND_EMAIL_BACKEND chosen (off, console, file, smtp); EMAIL_BACKEND
# the Django backend it means.
EMAIL_CHANNEL = _email.name
EMAIL_ENABLED = _email.enabled
EMAIL_BACKEND = _email.backend
EMAIL_FILE_PATH = str(_email.file_dir)
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
EMAIL_TIMEOUT = _email.timeout
DEFAULT_FROM_EMAIL = _email.from_address
SERVER_EMAIL = _email.from_address
if max(SMS_TIMEOUT_SECONDS, EMAIL_TIMEOUT) * 2 >= OUTBOX_LEASE_SECONDS:
    raise ConfigurationError(
        "GRIDVEND_OUTBOX_LEASE_SECONDS must be more than twice the SMS and e-mail timeouts"
    )

# Dunning (docs/dunning.md): the daily run, voice reminders spoken by espeak-ng into VOICE_DIR,
# and the phone enquiry's aggregator, known by a shared secret and/or its addresses.
DUNNING_RUN_CRON = env.get_str("GRIDVEND_DUNNING_RUN_CRON", "30 5 * * *")
VOICE_ENGINE = env.get_str("GRIDVEND_VOICE_ENGINE", "espeak-ng")
VOICE_TIMEOUT_SECONDS = env.get_int("GRIDVEND_VOICE_TIMEOUT_SECONDS", 30, minimum=1)
VOICE_DIR = Path(env.get_str("GRIDVEND_VOICE_DIR", str(VAR_DIR / "voice")))
VOICE_WEBHOOK_SECRET = env.get_str("GRIDVEND_VOICE_WEBHOOK_SECRET", "").strip()
VOICE_ALLOWED_IPS = env.get_list("GRIDVEND_VOICE_ALLOWED_IPS", [])
# The user whose scope the phone enquiry reads with (a username; empty: enquiries refused).
ENQUIRY_USER = env.get_text("GRIDVEND_ENQUIRY_USER", "", max_length=150)

# `gridvend serve`: the WSGI server and its processes (docs/deployment.md "The web server").
WEB_SERVER = web_server(env)

# Prometheus metrics (gridvend.metrics, /metrics): the folder where every process writes its
# counts (prometheus-client's multiprocess mode; cleared of dead processes' files by `gridvend
# serve`), and who may read them: a bearer token and/or client addresses. With neither, /metrics
# answers 404 (business volumes are not public).
METRICS_DIR = env.get_str(
    "GRIDVEND_METRICS_DIR",
    env.values.get("PROMETHEUS_MULTIPROC_DIR", "") or ("" if TESTING else str(VAR_DIR / "metrics")),
)
METRICS_TOKEN = env.get_str("GRIDVEND_METRICS_TOKEN", "").strip()
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ConfigurationError("GRIDVEND_METRICS_TOKEN must be at least 32 characters")
METRICS_ALLOWED_IPS = env.get_list("GRIDVEND_METRICS_ALLOWED_IPS", [])
# Partners whose float levels a scrape reads (the first so many by id).
METRICS_MAX_PARTNERS = env.get_int("GRIDVEND_METRICS_MAX_PARTNERS", 200, minimum=0)
if METRICS_MAX_PARTNERS > 5000:
    raise ConfigurationError("GRIDVEND_METRICS_MAX_PARTNERS must be at most 5000")
# /readyz answers within this many seconds: each database statement it runs is cut off at it.
READYZ_TIMEOUT_SECONDS = env.get_int("GRIDVEND_READYZ_TIMEOUT_SECONDS", 2, minimum=1)
if READYZ_TIMEOUT_SECONDS > 30:
    raise ConfigurationError("GRIDVEND_READYZ_TIMEOUT_SECONDS must be at most 30")
for _network in METRICS_ALLOWED_IPS:
    try:
        import ipaddress as _ipaddress

        _ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ConfigurationError(
            f"GRIDVEND_METRICS_ALLOWED_IPS: {_network!r} is not an IP address or network"
        ) from None

USE_I18N = True
LANGUAGE_CODE = env.get_str("GRIDVEND_LANGUAGE", "en")
LANGUAGES = [
    ("en", _("English")),
    ("ar", _("Arabic")),
    ("zh-hans", _("Simplified Chinese")),
]
LANGUAGES_BIDI = ["ar"]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
FORMAT_MODULE_PATH = ["gridvend.formats"]
if LANGUAGE_CODE not in {code for code, _name in LANGUAGES}:
    raise ConfigurationError(
        f"GRIDVEND_LANGUAGE must be one of en, ar, zh-hans, not {LANGUAGE_CODE!r}"
    )

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "gridvend.org",
    "gridvend.identity",
    "gridvend.audit",
    "gridvend.tariffs",
    "gridvend.customers",
    "gridvend.meters",
    "gridvend.keys",
    "gridvend.ledger",
    "gridvend.vending",
    "gridvend.readings",
    "gridvend.billing",
    "gridvend.dunning",
    "gridvend.partners",
    "gridvend.banklink",
    "gridvend.terminals",
    "gridvend.stations",
    "gridvend.mobilemoney",
    "gridvend.wallet",
    "gridvend.phone",
    "gridvend.jobs",
    "gridvend.notifications",
    "gridvend.exports",
    "gridvend.reports",
    "gridvend.operations",
    "gridvend.logins",
    "django_q",
    "gridvend.web",
    "gridvend.api",
    "gridvend.portal",
    "gridvend.gateways.banklink",
    "gridvend.gateways.terminals",
    "gridvend.gateways.ussd",
    "gridvend.demo",
]

MIDDLEWARE = [
    # First: every request is timed, and the load balancer's probes are answered before the
    # host check and the TLS redirect (gridvend.web.monitoring).
    "gridvend.web.monitoring.MetricsMiddleware",
    "gridvend.web.monitoring.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gridvend.web.middleware.RefuseNulMiddleware",
    "gridvend.web.middleware.RequestIdMiddleware",
    "gridvend.web.middleware.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Portal pages see only the portal's own session, never the staff's (and staff pages never
    # see it): gridvend.portal.sessions.
    "gridvend.portal.sessions.PortalSessionMiddleware",
    "gridvend.web.middleware.PrivatePagesMiddleware",
    "gridvend.web.middleware.UserLanguageMiddleware",
    "gridvend.web.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After the messages (its notices are stored) and before the views (a locked or ended
    # session never reaches one).
    "gridvend.web.middleware.SessionGuardMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "gridvend.web.middleware.DomainErrorMiddleware",
]

ROOT_URLCONF = "gridvend.urls"
WSGI_APPLICATION = "gridvend.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gridvend.web.context.site",
            ],
        },
    },
]

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["gridvend.identity.backends.LockoutAwareBackend"]
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
if TESTING:
    # Tests create many users; MD5 keeps them fast. Production never reads this branch.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *PASSWORD_HASHERS]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The customer portal (docs/portal.md): a one-time code lives PORTAL_CODE_MINUTES and takes
# PORTAL_CODE_ATTEMPTS wrong tries; a meter (or a login, for reset codes) is sent at most
# PORTAL_CODES_PER_HOUR codes an hour. Portal sessions have a cookie of their own, sent only to
# /portal/, and end after the staff's idle and maximum times.
PORTAL_CODE_MINUTES = env.get_int("GRIDVEND_PORTAL_CODE_MINUTES", 10, minimum=1)
PORTAL_CODE_ATTEMPTS = env.get_int("GRIDVEND_PORTAL_CODE_ATTEMPTS", 5, minimum=1)
PORTAL_CODES_PER_HOUR = env.get_int("GRIDVEND_PORTAL_CODES_PER_HOUR", 5, minimum=1)
# Refused sign-up / add-meter proofs per meter number an hour before every proof for it waits.
PORTAL_PROOF_FAILURES_PER_HOUR = env.get_int(
    "GRIDVEND_PORTAL_PROOF_FAILURES_PER_HOUR", 10, minimum=1
)
PORTAL_SESSION_COOKIE_NAME = "gv_portal"
# Fault reports one portal login may send in an hour (docs/supervisor.md, Faults): enough for a real
# outage, never a flood into the field agents' queue.
PORTAL_FAULTS_PER_HOUR = env.get_int("GRIDVEND_PORTAL_FAULTS_PER_HOUR", 3, minimum=1)
for _name in (
    "PORTAL_CODE_MINUTES",
    "PORTAL_CODE_ATTEMPTS",
    "PORTAL_CODES_PER_HOUR",
    "PORTAL_FAULTS_PER_HOUR",
    "PORTAL_PROOF_FAILURES_PER_HOUR",
):
    if globals()[_name] > 1000:
        raise ConfigurationError(f"GRIDVEND_{_name} must be at most 1000")

# Login lockout: after this many failures in a row the account is locked for the period.
LOGIN_MAX_FAILURES = env.get_int("GRIDVEND_LOGIN_MAX_FAILURES", 5, minimum=1)
LOGIN_LOCKOUT_MINUTES = env.get_int("GRIDVEND_LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Administrators must use TOTP; only the demo may switch this off (and says so at start).
REQUIRE_ADMIN_TOTP = env.get_bool("GRIDVEND_REQUIRE_ADMIN_TOTP", True)

# A session ends after SESSION_IDLE_SECONDS without a request and SESSION_MAX_SECONDS after
# sign-in, whichever comes first (gridvend.web.sessions enforces both on every request).
_sessions = session_limits(env)
SESSION_IDLE_SECONDS = _sessions.idle_seconds
SESSION_MAX_SECONDS = _sessions.max_seconds
SESSION_COOKIE_AGE = SESSION_MAX_SECONDS
# A session that used the cashier screen locks after this many idle minutes (0: never): the
# screen asks for the password again, and nothing can be sold until it is given.
SCREEN_LOCK_MINUTES = env.get_int("GRIDVEND_SCREEN_LOCK_MINUTES", 5, minimum=0)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
_secure = env.get_bool("GRIDVEND_SECURE_COOKIES", not (DEBUG or DEMO_MODE or TESTING))
SESSION_COOKIE_SECURE = _secure
CSRF_COOKIE_SECURE = _secure
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env.get_int("GRIDVEND_HSTS_SECONDS", 0)
SECURE_SSL_REDIRECT = env.get_bool("GRIDVEND_SSL_REDIRECT", False)
# Prometheus scrapes the backend over plain HTTP on the private network (the probes are
# answered before the redirect anyway).
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.get_bool("GRIDVEND_BEHIND_PROXY", False) else None
)
# Addresses (or networks) of the reverse proxies in front of gridvend. X-Forwarded-For is read
# only when the request comes from one of them, and only the entries those proxies appended are
# believed: a client can write anything into the header it sends.
TRUSTED_PROXIES = env.get_list("GRIDVEND_TRUSTED_PROXIES", [])
for _proxy in TRUSTED_PROXIES:
    try:
        import ipaddress as _ipaddress

        _ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ConfigurationError(
            f"GRIDVEND_TRUSTED_PROXIES: {_proxy!r} is not an IP address or network"
        ) from None
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)

STATIC_URL = "/static/"
# Assets are served from the package (finders); `collectstatic` needs GRIDVEND_STATIC_ROOT.
_static_root = env.get_str("GRIDVEND_STATIC_ROOT", "")
STATIC_ROOT = Path(_static_root) if _static_root else None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# GRIDVEND_LOG_FORMAT=json writes one JSON object per line (for journald, Loki, Elasticsearch);
# the default stays readable in a terminal. Either way each line carries the request id that
# the request's audit events carry (gridvend.logs).
LOG_FORMAT = env.get_str("GRIDVEND_LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ConfigurationError(f"GRIDVEND_LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request": {"()": "gridvend.logs.RequestFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "gridvend.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request"],
        }
    },
    "root": {"handlers": ["console"], "level": env.get_str("GRIDVEND_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # WeasyPrint logs every layout step, and a warning for each CSS rule meant for browsers
        # only (the roll's "size: 80mm auto", "unicode-bidi"); its errors still show.
        "weasyprint": {"level": "ERROR"},
    },
}
