"""Spoken reminders and balances: text from translated templates, spoken to a WAV file by
espeak-ng (a subprocess with a timeout, the text on its standard input, no shell).

Amounts are spoken as whole units and cents with the currency's name ("1250 Kenyan shillings and
50 cents"), account numbers digit by digit; espeak-ng reads the digits in the voice's language.
A file is written beside its final name and moved there only once it is a readable WAV, so a
timeout or a crash never leaves half a file under the name a call list points at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from gridvend.dunning.errors import VoiceEngineFailed, VoiceEngineMissing, VoiceLanguageUnsupported
from gridvend.kernel.money import currency_exponent

# Our language codes and the espeak-ng voice that speaks each.
VOICES = {"en": "en-gb", "ar": "ar", "zh-hans": "cmn"}
# Words per minute: a little slower than espeak-ng's 175, for a telephone line.
SPEED_WPM = 150
# The longest text spoken: a reminder or a balance is a few sentences.
MAX_TEXT_CHARACTERS = 600
MAX_WAV_BYTES = 10 * 1024 * 1024

CURRENCY_NAMES = {
    "KES": gettext_lazy("Kenyan shillings"),
    "UGX": gettext_lazy("Ugandan shillings"),
    "TZS": gettext_lazy("Tanzanian shillings"),
    "NGN": gettext_lazy("naira"),
    "ZAR": gettext_lazy("rand"),
    "GHS": gettext_lazy("cedis"),
    "EGP": gettext_lazy("Egyptian pounds"),
    "USD": gettext_lazy("US dollars"),
    "CNY": gettext_lazy("yuan"),
}


@dataclass(frozen=True)
class Speech:
    """A WAV file as written: its name, format and length."""

    path: Path
    channels: int
    sample_rate: int
    duration_ms: int


def voice_for(language: str) -> str:
    voice = VOICES.get(language)
    if voice is None:
        raise VoiceLanguageUnsupported(language=language[:20])
    return voice


def engine() -> str:
    """The espeak-ng executable, or VoiceEngineMissing."""
    found = shutil.which(settings.VOICE_ENGINE)
    if found is None:
        raise VoiceEngineMissing()
    return found


def spoken_digits(text: str) -> str:
    """An account number read digit by digit: "1 2 3 4"."""
    return " ".join(ch for ch in text if ch.isdigit())


def spoken_amount(amount_minor: int, currency: str) -> str:
    """Money as it is said, in the active language: whole units, then cents if any."""
    exponent = currency_exponent(currency)
    major, minor = divmod(abs(amount_minor), 10**exponent) if exponent else (abs(amount_minor), 0)
    name = str(CURRENCY_NAMES.get(currency, " ".join(currency)))
    if minor:
        return _("%(major)s %(currency)s and %(minor)s cents") % {
            "major": major,
            "currency": name,
            "minor": minor,
        }
    return _("%(major)s %(currency)s") % {"major": major, "currency": name}


def reminder_text(
    *, language: str, account_number: str, arrears_minor: int, currency: str, days: int
) -> str:
    with translation.override(language):
        return _(
            "Dear customer, your electricity account %(account)s is %(days)s days overdue. "
            "The amount overdue is %(amount)s. Please pay now to avoid disconnection. Thank you."
        ) % {
            "account": spoken_digits(account_number),
            "days": days,
            "amount": spoken_amount(arrears_minor, currency),
        }


def balance_text(
    *,
    language: str,
    account_number: str,
    total_due_minor: int,
    arrears_minor: int,
    currency: str,
    last_payment: tuple[str, int] | None,
) -> str:
    """The phone enquiry's answer; ``last_payment`` is (the day as said, amount)."""
    with translation.override(language):
        text = _(
            "Account %(account)s. The amount due is %(due)s, of which %(arrears)s is overdue."
        ) % {
            "account": spoken_digits(account_number),
            "due": spoken_amount(total_due_minor, currency),
            "arrears": spoken_amount(arrears_minor, currency),
        }
        if last_payment is None:
            return text + " " + _("No payment has been received.")
        day, amount = last_payment
        return (
            text
            + " "
            + _("The last payment was %(amount)s on %(day)s.")
            % {"amount": spoken_amount(amount, currency), "day": day}
        )


def speak(text: str, *, language: str, path: Path) -> Speech:
    """``text`` spoken in ``language`` to the WAV file ``path`` (replaced if it exists).

    Raises VoiceLanguageUnsupported, VoiceEngineMissing, VoiceEngineFailed (an error exit, a
    timeout, no file or not a WAV file)."""
    voice = voice_for(language)
    program = engine()
    if not text or len(text) > MAX_TEXT_CHARACTERS:
        raise VoiceEngineFailed(reason="text length")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial_name = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=".wav")
    os.close(handle)
    partial = Path(partial_name)
    try:
        try:
            done = subprocess.run(
                [program, "-v", voice, "-s", str(SPEED_WPM), "-b", "1", "-w", str(partial)],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=settings.VOICE_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise VoiceEngineFailed(reason="timeout") from None
        except OSError as error:
            raise VoiceEngineFailed(reason=type(error).__name__) from None
        if done.returncode != 0:
            raise VoiceEngineFailed(reason=f"exit {done.returncode}")
        speech = read_wav(partial)
        os.replace(partial, path)
        return Speech(path, speech.channels, speech.sample_rate, speech.duration_ms)
    finally:
        partial.unlink(missing_ok=True)


def read_wav(path: Path) -> Speech:
    """The format and length of a WAV file; VoiceEngineFailed if it is none or is empty."""
    try:
        if path.stat().st_size > MAX_WAV_BYTES:
            raise VoiceEngineFailed(reason="file too large")
        with wave.open(str(path), "rb") as audio:
            frames, rate, channels = audio.getnframes(), audio.getframerate(), audio.getnchannels()
    except (OSError, EOFError, wave.Error):
        raise VoiceEngineFailed(reason="not a WAV file") from None
    if frames == 0 or rate == 0:
        raise VoiceEngineFailed(reason="empty")
    return Speech(path, channels, rate, frames * 1000 // rate)
