"""Hotline settings: read from an optional YAML file, overridden by ``HOTLINE_*`` variables.

Every setting is validated at start-up; a wrong value raises :class:`ConfigError` whose
message names the setting, so the CLI can stop with one readable line instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from voicemail.mailer import SmtpUrlError, parse_smtp_url


class ConfigError(Exception):
    """A setting has a value Hotline cannot use; ``str()`` is one line naming the setting."""


@dataclass(frozen=True)
class AmiUrl:
    """Where and how to log in to the Asterisk Manager Interface."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Settings:
    """All of Hotline's settings, validated."""

    database_url: str
    agi_listen: str = "tcp:4573:interface=127.0.0.1"
    web_listen: str = "tcp:8080:interface=127.0.0.1"
    ami: AmiUrl | None = None
    recordings_dir: Path = Path("recordings")
    spool_dir: Path = Path("spool")
    agi_allow: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    time_zone: str = "Europe/Prague"
    smtp_url: str | None = None
    # Where people reach the web pages, e.g. https://hotline.example.com (no trailing "/"):
    # what links in e-mails point to. None: e-mails carry no links.
    public_url: str | None = None
    # The dialplan's resume chain, HOTLINE_RESUME_ROUNDS x HOTLINE_RESUME_WAIT_S seconds of
    # extensions.conf: how long a call whose server died may still come back.
    resume_window_s: float = 15.0
    # Asterisk's sounds directory: ``hotline prompts`` writes <language>/<name>.wav there.
    sounds_dir: Path = Path("/var/lib/asterisk/sounds")
    # The reverse proxies (TLS) in front of the web pages: only from these are
    # X-Forwarded-For and X-Forwarded-Proto believed (web.server).
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()


# name in the environment -> key in the YAML file
_KEYS: dict[str, str] = {
    "HOTLINE_DATABASE_URL": "database_url",
    "HOTLINE_AGI_LISTEN": "agi_listen",
    "HOTLINE_WEB_LISTEN": "web_listen",
    "HOTLINE_AMI_URL": "ami_url",
    "HOTLINE_RECORDINGS_DIR": "recordings_dir",
    "HOTLINE_SPOOL_DIR": "spool_dir",
    "HOTLINE_AGI_ALLOW": "agi_allow",
    "HOTLINE_TIME_ZONE": "time_zone",
    "HOTLINE_SMTP_URL": "smtp_url",
    "HOTLINE_PUBLIC_URL": "public_url",
    "HOTLINE_RESUME_WINDOW_S": "resume_window_s",
    "HOTLINE_SOUNDS_DIR": "sounds_dir",
    "HOTLINE_TRUSTED_PROXIES": "trusted_proxies",
}

_LOOPBACK = ("127.0.0.0/8", "::1/128")
_ENDPOINT = re.compile(
    r"^tcp6?:(?P<port>\d{1,5})(?::(?:interface=(?P<iface>[^:\\]+|\\:[^:]*)|backlog=\d+))*$"
)


def default_database_url(cwd: Path | None = None) -> str:
    """The embedded default: a SQLite file in the working directory."""
    return f"sqlite:///{(cwd or Path.cwd()) / 'hotline.db'}"


def _check_listen(name: str, value: str) -> str:
    match = _ENDPOINT.match(value)
    if not match:
        raise ConfigError(
            f"{name}: {value!r} is not a listening endpoint such as 'tcp:4573:interface=127.0.0.1'"
        )
    port = int(match.group("port"))
    if not 0 <= port <= 65535:
        raise ConfigError(f"{name}: port {port} is out of range 0-65535")
    return value


def _check_database(name: str, value: str) -> str:
    scheme = value.split(":", 1)[0].split("+", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres") or "://" not in value:
        raise ConfigError(
            f"{name}: {value!r} is not a database URL "
            "(use sqlite:///path/to/file.db or postgresql://user@host/dbname)"
        )
    if scheme == "postgres":
        value = "postgresql" + value[len("postgres") :]
    return value


def _check_ami(name: str, value: str) -> AmiUrl | None:
    if not value:
        return None
    parts = urlsplit(value)
    try:
        port = parts.port or 5038
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if parts.scheme != "ami" or not parts.hostname or not parts.username or not parts.password:
        raise ConfigError(f"{name}: expected ami://user:secret@host:port, got a malformed URL")
    return AmiUrl(parts.hostname, port, unquote(parts.username), unquote(parts.password))


def _check_networks(
    name: str, value: str | list[str], always: tuple[str, ...] = ()
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated (or a YAML list of) addresses and networks. A network written with
    host bits set (10.9.9.9/8) is refused: taking it as 10.0.0.0/8 would silently let in
    far more than its author meant."""
    items = value if isinstance(value, list) else [v for v in str(value).split(",")]
    nets = []
    for raw in [*always, *items]:
        raw = str(raw).strip()
        if not raw:
            continue
        try:
            nets.append(ipaddress.ip_network(raw, strict=True))
        except ValueError:
            try:
                meant = ipaddress.ip_network(raw, strict=False)
            except ValueError:
                raise ConfigError(f"{name}: {raw!r} is not an IP address or network") from None
            raise ConfigError(
                f"{name}: {raw!r} has host bits set; write the network {str(meant)!r} "
                "or the single address without a prefix"
            ) from None
    return tuple(dict.fromkeys(nets))


def _check_allow(
    name: str, value: str | list[str]
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _check_networks(name, value, always=_LOOPBACK)


def _check_zone(name: str, value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{name}: {value!r} is not a known time zone") from None
    return value


def _check_smtp(name: str, value: str) -> str | None:
    if not value:
        return None
    try:
        parse_smtp_url(value)
    except SmtpUrlError as exc:
        raise ConfigError(
            f"{name}: expected smtp://[user:password@]host[:port][?from=addr]: {exc}"
        ) from None
    return value


def _check_public_url(name: str, value: str) -> str | None:
    """An http(s) address people open the web pages at; links are made by appending paths."""
    if not value:
        return None
    example = "such as 'https://hotline.example.com'"
    parts = urlsplit(value)
    try:
        _ = parts.port  # raises for a port that is not a number or out of range
    except ValueError:
        raise ConfigError(
            f"{name}: {value!r} has a bad port; expected an address {example}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name}: {value!r} is not a web address {example}")
    if "@" in parts.netloc:  # never echo what may be a password
        raise ConfigError(f"{name}: the address must not carry a user or password")
    if parts.query or parts.fragment or any(c.isspace() for c in value):
        raise ConfigError(f"{name}: {value!r} must be a plain address {example}, no query or #")
    return value.rstrip("/")


def _check_seconds(name: str, value: str, most: float) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a number of seconds") from None
    if not 0 < seconds <= most:
        raise ConfigError(f"{name}: {value!r} must be more than 0 and at most {most:g} seconds")
    return seconds


def _read_file(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"HOTLINE_CONFIG: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"HOTLINE_CONFIG: {path} is not valid YAML: {exc}".splitlines()[0]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"HOTLINE_CONFIG: {path} must hold a mapping of settings")
    unknown = set(data) - set(_KEYS.values())
    if unknown:
        raise ConfigError(
            f"HOTLINE_CONFIG: unknown setting(s) in {path}: {', '.join(sorted(unknown))}"
        )
    return data


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Build :class:`Settings` from ``config_file`` (or ``HOTLINE_CONFIG``) and the environment."""
    env = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    path = config_file or (Path(env["HOTLINE_CONFIG"]) if env.get("HOTLINE_CONFIG") else None)
    raw: dict[str, object] = dict(_read_file(path)) if path else {}
    for env_name, key in _KEYS.items():
        if env_name in env:
            raw[key] = env[env_name]

    def get(key: str, default: str) -> str:
        value = raw.get(key, default)
        return default if value is None else str(value)

    def name_of(key: str) -> str:
        return next(n for n, k in _KEYS.items() if k == key)

    return Settings(
        database_url=_check_database(
            name_of("database_url"), get("database_url", default_database_url(cwd))
        ),
        agi_listen=_check_listen(name_of("agi_listen"), get("agi_listen", Settings.agi_listen)),
        web_listen=_check_listen(name_of("web_listen"), get("web_listen", Settings.web_listen)),
        ami=_check_ami(name_of("ami_url"), get("ami_url", "")),
        recordings_dir=cwd / get("recordings_dir", "recordings"),
        spool_dir=cwd / get("spool_dir", "spool"),
        agi_allow=_check_allow(name_of("agi_allow"), raw.get("agi_allow") or ""),  # type: ignore[arg-type]
        time_zone=_check_zone(name_of("time_zone"), get("time_zone", Settings.time_zone)),
        smtp_url=_check_smtp(name_of("smtp_url"), get("smtp_url", "")),
        public_url=_check_public_url(name_of("public_url"), get("public_url", "")),
        resume_window_s=_check_seconds(
            name_of("resume_window_s"),
            get("resume_window_s", str(Settings.resume_window_s)),
            most=600,
        ),
        sounds_dir=cwd / get("sounds_dir", str(Settings.sounds_dir)),
        trusted_proxies=_check_networks(
            name_of("trusted_proxies"),
            raw.get("trusted_proxies") or "",  # type: ignore[arg-type]
        ),
    )
