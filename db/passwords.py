"""Password hashing with the standard library's scrypt (R-7.4).

Format: ``scrypt$n$r$p$salt_b64$hash_b64``. No extra dependency: hashlib.scrypt is memory
hard and available on every CPython built against OpenSSL, which Hotline's platforms are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1
_PREFIX = "scrypt"


def hash_password(password: str, *, n: int = _N) -> str:
    """A salted scrypt hash of ``password`` in Hotline's storage format."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=_R, p=_P, dklen=32)
    return "$".join(
        (
            _PREFIX,
            str(n),
            str(_R),
            str(_P),
            base64.b64encode(salt).decode("ascii"),
            base64.b64encode(digest).decode("ascii"),
        )
    )


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for a wrong one or a malformed hash."""
    try:
        prefix, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if prefix != _PREFIX:
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(digest, expected)


def is_password_hash(value: str) -> bool:
    """True when ``value`` looks like a hash this module made (used by YAML import)."""
    parts = value.split("$")
    return len(parts) == 6 and parts[0] == _PREFIX and all(parts[1:4]) and parts[1].isdigit()
