"""The prompts Hotline plays by default, and what a prompt's name and words may be (R-6.4).

Every name the call flows play unless the centre's catalog names another (the flows'
settings, the defaults of boxes, queues and menus) is here with its English words, marked
with ``N_`` so that the Czech catalogue (``web/locale/cs/LC_MESSAGES/hotline.po``) carries
their Czech. ``hotline prompts`` speaks them into sound files, in every language of
:data:`PROMPT_LANGUAGES`; an admin's recording of the same name replaces one.

A name is Asterisk's sound file name without its extension, relative to the sounds
directory of a language (``hotline/goodbye`` is ``sounds/cs/hotline/goodbye.wav``): path
segments of ``a-z``, ``0-9``, ``_`` and ``-`` separated by ``/``, so that no name can lead
out of that directory.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from domain.texts import N_

# The languages callers hear: Asterisk's language codes, the first is the default.
PROMPT_LANGUAGES = ("en", "cs")
DEFAULT_PROMPT_LANGUAGE = PROMPT_LANGUAGES[0]
# The catalog's setting for the centre's language, which a DID without its own uses.
PROMPT_LANGUAGE_SETTING = "prompt_language"
MAX_PROMPT_NAME = 200  # the columns that hold a prompt's name
MAX_PROMPT_TEXT = 500  # about half a minute of speech
# What Asterisk plays without transcoding effort: 8 kHz, mono, 16-bit signed PCM WAV (sox's
# output options); both a generated prompt and an admin's recording are made into it.
SAMPLE_RATE_HZ = 8000
PHONE_WAV_SOX = ("-r", str(SAMPLE_RATE_HZ), "-c", "1", "-b", "16", "-e", "signed-integer")
_NAME = re.compile(r"[a-z0-9_-]+(?:/[a-z0-9_-]+)*")

PRODUCT_PROMPTS = MappingProxyType(
    {
        "hotline/not-in-service": N_(
            "Sorry, this number is not in service. Please check the number and call again. Goodbye."
        ),
        "hotline/goodbye": N_("Thank you for calling. Goodbye."),
        "hotline/press-0-for-callback": N_(
            "All our operators are still busy. If you would like us to call you back, "
            "press zero. To leave a message, press the hash key. "
            "Or please stay on the line."
        ),
        "hotline/callback-registered": N_(
            "Thank you. We have your request and will call you back as soon as we can. Goodbye."
        ),
        "hotline/message-saved": N_("Thank you, your message has been saved. Goodbye."),
        "hotline/leave-message": N_(
            "Please leave your message after the tone. When you have finished, "
            "press the hash key or simply hang up."
        ),
        "hotline/opening-hours": N_(
            "Thank you for calling. We are closed at the moment. "
            "Please call again during our opening hours."
        ),
        "hotline/invalid-option": N_("Sorry, that is not a valid choice. Please try again."),
        "hotline/closed-press-0": N_(
            "If you would like us to call you back when we are open, press zero now."
        ),
    }
)
"""Name -> English words (a gettext message id) of every prompt Hotline plays by default."""


def prompt_file(language: str, name: str) -> str:
    """A prompt's sound file relative to Asterisk's sounds directory (its layout: the
    channel's language picks the directory)."""
    return f"{language}/{name}.wav"


def is_prompt_name(name: str) -> bool:
    """Whether ``name`` is a safe sound name (``hotline/goodbye``; never ``../x`` or ``/x``)."""
    return len(name) <= MAX_PROMPT_NAME and _NAME.fullmatch(name) is not None


def prompt_language(value: str | None, centre_default: str | None = None) -> str:
    """The language a caller hears: ``value`` (a DID's), else the centre's, else English."""
    for choice in (value, centre_default):
        if choice in PROMPT_LANGUAGES:
            return str(choice)
    return DEFAULT_PROMPT_LANGUAGE
