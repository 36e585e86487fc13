"""Configuration from COMPANION_* environment variables: the only module that reads os.environ."""
from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"

# The interface's and the appeals' languages, in the order a missing text falls back to another: Kazakh
# (the state language), Russian, English. The only list of them (translations/ holds one catalog each).
LANGUAGES = ("kk", "ru", "en")
FALLBACK_LANGUAGE = LANGUAGES[0]  # the language when none is known: Kazakh, the state language
# each language in its own name, as the language switcher offers it
LANGUAGE_ENDONYMS = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
# the teleprompter's three-letter mark of a question's language, the same in every interface language
LANGUAGE_MARKS = {"kk": "ҚАЗ", "ru": "РУС", "en": "ENG"}


def in_fallback_order(locale: str) -> tuple[str, ...]:
    """`locale` first, then the other languages in LANGUAGES' order."""
    return (locale, *(lang for lang in LANGUAGES if lang != locale)) if locale in LANGUAGES else LANGUAGES


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Config:
    """Settings with defaults; `from_env` overrides them with COMPANION_<NAME> variables."""

    SECRET_KEY: str = ""
    DATABASE_URL: str = f"sqlite:///{INSTANCE / 'companion.db'}"
    MESSAGE_QUEUE: str = ""
    MESSAGE_QUEUE_CHANNEL: str = "companion"
    # where the channels process tells the serving process of a change when there is no message queue
    INTERNAL_URL: str = ""
    ASYNC_MODE: str = "eventlet"
    HOST: str = "127.0.0.1"
    PORT: int = 5000
    MAX_CONNECTIONS: int = 10_000
    PUBLIC_URL: str = ""
    TRACKING_FORMAT: str = "{prefix}-{year}-{number:06d}"
    TRACKING_PREFIX: str = "SRK"
    QUESTION_MAX_LENGTH: int = 1000
    QUESTIONS_PER_MINUTE_PER_VIEWER: int = 5
    QUESTIONS_PER_MINUTE_PER_ADDRESS: int = 30
    VOTES_PER_MINUTE_PER_VIEWER: int = 60
    LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS: int = 20
    LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS: int = 5
    LOGIN_DELAY_MAX_MINUTES: int = 15
    TRACKING_LOOKUPS_PER_MINUTE_PER_ADDRESS: int = 30
    OPERATOR_LOOKUPS_PER_MINUTE: int = 20
    EVENTS_PER_SECOND_PER_CONNECTION: int = 20
    MAX_MESSAGE_BYTES: int = 65536
    PING_INTERVAL_SECONDS: int = 20
    PING_TIMEOUT_SECONDS: int = 20
    DRAIN_GRACE_MS: int = 1000
    PROXY_HOPS: int = 0
    DIAGNOSTICS: bool = False
    GC_DEFAULTS: bool = False
    READY_MIN_FREE_MB: int = 200
    BACKUP_DIR: str = str(INSTANCE / "backups")
    BACKUP_KEEP: int = 30
    NAME_MAX_LENGTH: int = 80
    DEFAULT_LOCALE: str = FALLBACK_LANGUAGE
    OPEN311_LOCALE: str = "en"
    OPEN311_DESCRIPTION_MAX_LENGTH: int = 4000
    OPEN311_RETRY_WINDOW_SECONDS: int = 600
    OPEN311_CONTACT: str = ""
    OPEN311_KEY_SERVICE: str = ""
    OPEN311_CHANGESET: str = "2026-12-02T00:00:00+05:00"
    TIMEZONE: str = "Asia/Almaty"
    PHONE_REGION: str = "KZ"
    OFFICE_NAME: str = "District akimat"
    OFFICE_NAME_KK: str = ""
    OFFICE_NAME_RU: str = ""
    OFFICE_NAME_EN: str = ""
    ACCEPTING_OFFICIAL_KK: str = ""
    ACCEPTING_OFFICIAL_RU: str = ""
    ACCEPTING_OFFICIAL_EN: str = ""
    ACCEPTING_POSITION_KK: str = ""
    ACCEPTING_POSITION_RU: str = ""
    ACCEPTING_POSITION_EN: str = ""
    WORKING_HOURS: str = "09:00-18:30"
    TERM_FROM: str = "receipt"
    RECEIVED_AT_MAX_AGE_DAYS: int = 30
    RETENTION_DAYS: int = 1095
    ANSWER_WORKING_DAYS: int = 15
    FORWARD_WORKING_DAYS: int = 3
    NOTICE_WORKING_DAYS: int = 3
    EXTENSION_MAX_MONTHS: int = 2
    DUE_SOON_DAYS: int = 3
    APPEALS_PAGE_SIZE: int = 50
    ROADMAP_CACHE_SECONDS: int = 60
    AUDIENCE_SAMPLE_SECONDS: int = 5
    AUDIENCE_STALE_SECONDS: int = 20
    REPORT_MAIL_SECONDS: int = 5
    ANALYTICS_CACHE_SECONDS: int = 300
    DISTRICTS: str = ""
    SMTP_HOST: str = ""
    SMTP_PORT: int = 25
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = False
    SMTP_TIMEOUT: int = 10
    MAIL_FROM: str = "companion@localhost"
    ALLOWED_ORIGINS: str = ""
    SESSION_COOKIE_SECURE: bool = False
    TELEGRAM_TOKEN: str = ""
    TELEGRAM_MODE: str = "polling"
    TELEGRAM_WEBHOOK_SECRET: str = ""
    TELEGRAM_WEBHOOK_HOST: str = "127.0.0.1"
    TELEGRAM_WEBHOOK_PORT: int = 8443
    TELEGRAM_WEBHOOK_URL: str = ""
    TELEGRAM_API_URL: str = "https://api.telegram.org/bot"
    WHATSAPP_TOKEN: str = ""
    WHATSAPP_PHONE_NUMBER_ID: str = ""
    WHATSAPP_VERIFY_TOKEN: str = ""
    WHATSAPP_APP_SECRET: str = ""
    WHATSAPP_WEBHOOK_HOST: str = "127.0.0.1"
    WHATSAPP_WEBHOOK_PORT: int = 8444
    WHATSAPP_API_URL: str = "https://graph.facebook.com/v23.0"
    WHATSAPP_TEMPLATE_NOTICE: str = "appeal_update"
    WHATSAPP_TEMPLATE_ANSWER: str = "appeal_answered"
    OUTBOX_MAX_ATTEMPTS: int = 8
    CHANNEL_PHOTO_MAX_BYTES: int = 5 * 1024 * 1024
    OUTBOX_BACKOFF_SECONDS: int = 5
    TESTING: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Config":
        """Build a Config from COMPANION_* variables (os.environ by default)."""
        environ = os.environ if environ is None else environ
        cfg = cls()
        for f in fields(cls):
            raw = environ.get(f"COMPANION_{f.name}")
            if raw is None or f.name == "extra":
                continue
            current = getattr(cfg, f.name)
            if isinstance(current, bool):
                value = _bool(raw)
            elif isinstance(current, int):
                value = int(raw)
            else:
                value = raw
            setattr(cfg, f.name, value)
        return cfg

    def flask_settings(self) -> dict:
        """The mapping handed to app.config."""
        secret = self.SECRET_KEY or _instance_secret()
        settings = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        settings.update(
            SECRET_KEY=secret,
            SQLALCHEMY_DATABASE_URI=self.DATABASE_URL,
            # a connection that died with the database server is replaced, not handed out (a SQLite
            # file has no server to lose: no test query before every checkout)
            SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": not self.DATABASE_URL.startswith("sqlite")},
            SESSION_COOKIE_HTTPONLY=True,
            SESSION_COOKIE_SAMESITE="Lax",
            SESSION_COOKIE_SECURE=self.SESSION_COOKIE_SECURE,
            REMEMBER_COOKIE_HTTPONLY=True,
            REMEMBER_COOKIE_SAMESITE="Lax",
            BABEL_DEFAULT_LOCALE=self.DEFAULT_LOCALE,
            BABEL_DEFAULT_TIMEZONE=self.TIMEZONE,
            BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "translations"),
            WTF_CSRF_TIME_LIMIT=None,
            MAX_CONTENT_LENGTH=256 * 1024,
        )
        settings.update(self.extra)
        return settings


def is_loopback(host: str) -> bool:
    """True for a host (with or without a port) that only this machine can reach: localhost, 127.0.0.0/8, ::1."""
    host = (host or "").strip().lower()
    if host.startswith("["):  # [::1]:5000
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:  # 127.0.0.1:5000, localhost:5000
        host = host.split(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_public_url(cfg: "Config", host: str) -> None:
    """Refuse to serve beyond loopback (or behind a proxy) without PUBLIC_URL: links would take the client's Host header."""
    if cfg.PUBLIC_URL or (is_loopback(host) and not cfg.PROXY_HOPS):
        return
    where = f"behind {cfg.PROXY_HOPS} proxy hop(s)" if cfg.PROXY_HOPS else f"on {host}, beyond this machine"
    raise SystemExit(
        f"Error: COMPANION_PUBLIC_URL is not set, and the server would listen {where}. QR codes, receipts and "
        "e-mails need the public address residents use; a request's Host header is whatever a client sends. "
        "Set COMPANION_PUBLIC_URL=https://your.public.address (docs/deploy.md), or serve on 127.0.0.1.")


def _instance_secret() -> str:
    """A random secret kept in instance/secret_key so sessions survive restarts without a secret in the repo."""
    path = INSTANCE / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE.mkdir(exist_ok=True)
    secret = secrets.token_hex(32)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


# The settings as docs/configuration.md documents them (a test compares the two); kept beside the dataclass so
# the two cannot drift apart.
SETTINGS_DOC = {
    "SECRET_KEY": "Signs sessions and viewer cookies. Default: a random key stored in instance/secret_key.",
    "DATABASE_URL": "SQLAlchemy URL. Default: SQLite (WAL mode) at instance/companion.db.",
    "BACKUP_DIR": "Folder of `python -m companion backup`. Default instance/backups; in production a disk other than the database's.",
    "BACKUP_KEEP": "How many backups `backup` keeps (the oldest beyond are deleted). Default 30.",
    "MESSAGE_QUEUE": "Socket.IO message queue URL (redis://...) for several processes. Default: none.",
    "MESSAGE_QUEUE_CHANNEL": "Channel name on the message queue; processes of one deployment share it. Default companion.",
    "INTERNAL_URL": "Without a message queue, the address where the channels process tells the serving process of new questions (signed with SECRET_KEY). Default http://127.0.0.1:PORT.",
    "ASYNC_MODE": "Async server for `serve`: eventlet (default), gevent, or threading (development only).",
    "HOST": "Address `serve` listens on. Default 127.0.0.1.",
    "PORT": "Port `serve` listens on. Default 5000.",
    "MAX_CONNECTIONS": "Simultaneous connections one process accepts: WebSockets held, and requests in flight (eventlet). Default 10000.",
    "PUBLIC_URL": "Public base URL used in QR codes, printed links and e-mails; required to serve beyond 127.0.0.1 or behind a proxy. Default: none, and then links use HOST and PORT (or a loopback request's own address).",
    "TRACKING_FORMAT": "Format of tracking codes; fields prefix, year, number. Default {prefix}-{year}-{number:06d}.",
    "TRACKING_PREFIX": "Prefix of tracking codes. Default SRK.",
    "QUESTION_MAX_LENGTH": "Longest question text in characters. Default 1000.",
    "QUESTIONS_PER_MINUTE_PER_VIEWER": "Questions one viewer may send per minute. Default 5.",
    "QUESTIONS_PER_MINUTE_PER_ADDRESS": "Questions per minute from one IP address (mobile carriers share addresses). Default 30.",
    "VOTES_PER_MINUTE_PER_VIEWER": "Votes one viewer may cast per minute. Default 60.",
    "LOGIN_FAILURES_PER_MINUTE_PER_ADDRESS": "Failed staff logins per minute from one address, across usernames, before it must wait. Default 20.",
    "LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS": "Wrong passwords in a row for one username from one address before that address waits to try it again (other addresses never wait for it): a minute, doubling with each further one. Default 5.",
    "LOGIN_DELAY_MAX_MINUTES": "Longest such wait, in minutes. Default 15.",
    "OPERATOR_LOOKUPS_PER_MINUTE": "Lookups one phone operator may make per minute, by the caller's number or by a tracking number (each is in the audit log). Default 20.",
    "TRACKING_LOOKUPS_PER_MINUTE_PER_ADDRESS": "Appeal lookups by number alone (or with a wrong access code) per minute from one address (an IPv6 /64). Default 30.",
    "EVENTS_PER_SECOND_PER_CONNECTION": "Socket events one connection may send per second (bursts of twice that); a flood is disconnected. Default 20.",
    "MAX_MESSAGE_BYTES": "Largest Socket.IO message accepted; a larger one closes the connection. Default 65536.",
    "PING_INTERVAL_SECONDS": "Seconds between the server's pings to each connection. Default 20.",
    "PING_TIMEOUT_SECONDS": "Seconds a connection may leave a ping unanswered before it is closed. Default 20.",
    "DRAIN_GRACE_MS": "On SIGTERM, milliseconds that acknowledgements in flight get to finish before the clients' transports close. Default 1000.",
    "PROXY_HOPS": "Number of reverse proxies in front (nginx: 1) whose X-Forwarded-For is trusted. Default 0.",
    "READY_MIN_FREE_MB": "Free disk space under a SQLite database below which /readyz answers 503. Default 200.",
    "DIAGNOSTICS": "Add the number of live green threads (and, under eventlet, of pending hub timers) to /healthz (for soak runs; costs a heap walk). Default false.",
    "GC_DEFAULTS": "Keep Python's default garbage collector thresholds instead of the server's tuned ones (the benchmarks' before/after switch). Default false.",
    "NAME_MAX_LENGTH": "Longest asker name and district (at most 120, an appeal's). Default 80.",
    "DEFAULT_LOCALE": "Interface language when the browser asks for none we have: kk, ru or en. Default kk.",
    "OPEN311_LOCALE": "Language of Open311 answers (service names, notices, errors) when the client sends no Accept-Language we have: kk, ru or en. Default en.",
    "OPEN311_DESCRIPTION_MAX_LENGTH": "Longest Open311 description in characters (GeoReport v2 allows 4,000). Default 4000.",
    "OPEN311_RETRY_WINDOW_SECONDS": "An Open311 POST without client_id that repeats one from the same api_key (same service, description, name and contact) registered this many seconds ago or less returns that request instead of a duplicate; 0 turns this off. Default 600.",
    "OPEN311_CONTACT": "Open311 discovery's contact: how integrators reach the office about the API. Default: a sentence pointing to the office's administrator.",
    "OPEN311_KEY_SERVICE": "Open311 discovery's key_service: how an integrator gets an api_key. Default: a sentence pointing to the office's administrator.",
    "OPEN311_CHANGESET": "Open311 discovery's changeset: when the API or its service definitions last changed (sortable text). Default: the date of this release's Open311 change.",
    "TIMEZONE": "Time zone for dates shown and typed in (IANA name). Default Asia/Almaty.",
    "PHONE_REGION": "Default region for phone numbers without a country code. Default KZ.",
    "OFFICE_NAME": "Name of the receiving office where no name is set for the page's language (below). Default District akimat.",
    "OFFICE_NAME_KK": "The receiving office's name in Kazakh, on the talon and in e-mails (Astana: «Астана қаласы «…» ауданы әкімінің аппараты»). Default: OFFICE_NAME.",
    "OFFICE_NAME_RU": "The receiving office's name in Russian (Astana: «Аппарат акима района «…» города Астаны»). Default: OFFICE_NAME.",
    "OFFICE_NAME_EN": "The receiving office's name in English. Default: OFFICE_NAME.",
    "ACCEPTING_OFFICIAL_KK": "Surname and initials of the official responsible for accepting appeals that come by the web, the API and Open311, printed on their talon as who accepted them (APPK art. 64(2)), in Kazakh. A phone caller's talon names the moderator who took the call. Default: none.",
    "ACCEPTING_OFFICIAL_RU": "The same official's surname and initials in Russian. Default: the Kazakh form.",
    "ACCEPTING_OFFICIAL_EN": "The same official's surname and initials in English. Default: the Russian form, else the Kazakh.",
    "ACCEPTING_POSITION_KK": "That official's position in Kazakh. Default: the Russian form.",
    "ACCEPTING_POSITION_RU": "That official's position in Russian. Default: the Kazakh form.",
    "ACCEPTING_POSITION_EN": "That official's position in English. Default: the Russian form, else the Kazakh.",
    "WORKING_HOURS": "The office's working hours, local time (TIMEZONE), HH:MM-HH:MM, on the working days of the calendar. An appeal received at or after the end, or on a day off, is registered on the next working day (APPK art. 64(3)). Default 09:00-18:30.",
    "TERM_FROM": "What the 15 working days (and the 3 to forward) count from: receipt (the day the appeal arrived) or registration (the legal registration date). The office documents its choice; receipt gives the earlier due date, the safe side. Default receipt.",
    "RECEIVED_AT_MAX_AGE_DAYS": "An integrator's original time of receipt (received_at) may be at most this many days old. Default 30.",
    "RETENTION_DAYS": "Days after an appeal is finished before `python -m companion erase-expired` erases its applicant's name, district, contact and address (the text and the statistics stay; docs/privacy.md). Default 1095 (3 years).",
    "ANSWER_WORKING_DAYS": "Working days to answer an appeal (Administrative Procedural Code). Default 15.",
    "FORWARD_WORKING_DAYS": "Working days to forward an appeal outside the office's competence. Default 3.",
    "NOTICE_WORKING_DAYS": "Working days to tell the applicant of an extension. Default 3.",
    "EXTENSION_MAX_MONTHS": "Longest term of an extended appeal, in months from receipt. Default 2.",
    "DUE_SOON_DAYS": "An open appeal due within this many days is shown amber. Default 3.",
    "APPEALS_PAGE_SIZE": "Appeals per back-office page. Default 50.",
    "AUDIENCE_SAMPLE_SECONDS": "How often each serving process writes how many viewers it holds per live broadcast (the report's peak audience). Default 5.",
    "AUDIENCE_STALE_SECONDS": "A process's viewer count older than this is left out of the audience (the process stopped). Default 20.",
    "REPORT_MAIL_SECONDS": "How often a serving process looks for e-mails to send (notices to applicants, broadcast reports). Default 5.",
    "ROADMAP_CACHE_SECONDS": "How long the public roadmap's figures are reused before they are counted again (in the background: visitors get the stored figures meanwhile). Default 60.",
    "ANALYTICS_CACHE_SECONDS": "How long the staff analytics' figures (per department) are reused before they are counted again in the background. Default 300.",
    "DISTRICTS": "The office's districts for the public roadmap, separated by ';', each with its spellings separated by '|' (the first is shown): Samal|Самал;Nursat|Нурсат. Other districts residents type are counted as other. Default: none.",
    "SMTP_HOST": "Mail server for notices to applicants; empty turns e-mail notices off. Default: none.",
    "SMTP_PORT": "Mail server port. Default 25.",
    "SMTP_USERNAME": "Mail server login, if it needs one.",
    "SMTP_PASSWORD": "Mail server password, if it needs one.",
    "SMTP_STARTTLS": "Use STARTTLS with the mail server. Default false.",
    "SMTP_TIMEOUT": "Seconds to wait for the mail server. Default 10.",
    "MAIL_FROM": "Sender address of notices. Default companion@localhost.",
    "ALLOWED_ORIGINS": "Comma-separated origins allowed to open Socket.IO connections. Default: same origin only.",
    "SESSION_COOKIE_SECURE": "Send cookies over HTTPS only (set to true in production). Default false.",
    "TELEGRAM_TOKEN": "The office bot's token from BotFather; empty turns the Telegram channel off (docs/channels.md). Default: none.",
    "TELEGRAM_MODE": "How `python -m companion channels` receives the bot's messages: polling (getUpdates, works behind NAT) or webhook (needs a public HTTPS address). Default polling.",
    "TELEGRAM_WEBHOOK_SECRET": "The webhook's secret_token, which Telegram sends back in X-Telegram-Bot-Api-Secret-Token (1-256 of A-Z a-z 0-9 _ -); required in webhook mode. Default: none.",
    "TELEGRAM_WEBHOOK_HOST": "Address the channels process's webhook listens on (behind the TLS proxy). Default 127.0.0.1.",
    "TELEGRAM_WEBHOOK_PORT": "Port of that webhook. Default 8443.",
    "TELEGRAM_WEBHOOK_URL": "The public HTTPS address given to Telegram with setWebhook (the proxy forwards it to the webhook's port, path /telegram). Default: PUBLIC_URL + /telegram.",
    "TELEGRAM_API_URL": "Base URL of the Bot API, the token appended (a local Bot API server, or a test's stand-in). Default https://api.telegram.org/bot.",
    "WHATSAPP_TOKEN": "The WhatsApp Cloud API access token (a system user's permanent token in Meta Business Manager); empty turns the WhatsApp channel off (docs/channels.md). Default: none.",
    "WHATSAPP_PHONE_NUMBER_ID": "The Phone number ID of the office's WhatsApp number (WhatsApp → API Setup in the Meta app). Default: none.",
    "WHATSAPP_VERIFY_TOKEN": "The Verify token given to Meta with the webhook's URL; Meta sends it back once in the hub.verify_token handshake. Default: none.",
    "WHATSAPP_APP_SECRET": "The Meta app's App secret: every webhook POST must carry X-Hub-Signature-256, its HMAC-SHA256 of the raw body. Default: none.",
    "WHATSAPP_WEBHOOK_HOST": "Address the channels process's WhatsApp webhook listens on (behind the TLS proxy). Default 127.0.0.1.",
    "WHATSAPP_WEBHOOK_PORT": "Port of that webhook (path /whatsapp). Default 8444.",
    "WHATSAPP_API_URL": "Base URL of the Graph API with its version (a test's stand-in). Default https://graph.facebook.com/v23.0.",
    "WHATSAPP_TEMPLATE_NOTICE": "Approved template for a status notice outside WhatsApp's 24-hour window; its body takes {{1}} the number and {{2}} the link. Default appeal_update.",
    "WHATSAPP_TEMPLATE_ANSWER": "Approved template for an answer outside the 24-hour window; body {{1}} the number, {{2}} the link. Default appeal_answered.",
    "CHANNEL_PHOTO_MAX_BYTES": "Largest photo fetched from Telegram or WhatsApp and kept with its appeal (a larger one keeps only its platform id). Default 5242880 (5 MiB).",
    "OUTBOX_MAX_ATTEMPTS": "Attempts to send a notice (through a messaging channel or by e-mail) before it is dead-lettered for staff. Default 8.",
    "OUTBOX_BACKOFF_SECONDS": "Wait before the first retry of a failed notice; doubled after each further failure (at most an hour). Default 5.",
}
