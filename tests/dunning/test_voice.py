"""Voice reminders spoken by espeak-ng: real WAV files, read back with the ``wave`` module."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest
from django.test import override_settings

from gridvend.dunning import voice
from gridvend.dunning.errors import VoiceEngineMissing, VoiceLanguageUnsupported

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed on this machine"
)

# espeak-ng speaks about 150 words a minute at our speed: a reminder of ~35 words and digits
# lasts some seconds, never a fraction of one nor minutes.
MIN_SECONDS = 4
MAX_SECONDS = 60


def _reminder(language: str) -> str:
    return voice.reminder_text(
        language=language,
        account_number="100200300",
        arrears_minor=125050,
        currency="KES",
        days=45,
    )


@needs_espeak
@pytest.mark.parametrize("language", ["en", "ar", "zh-hans"])
def test_reminder_is_a_mono_wav_of_a_few_seconds(language: str, tmp_path: Path) -> None:
    path = tmp_path / f"reminder-{language}.wav"
    speech = voice.speak(_reminder(language), language=language, path=path)
    with wave.open(str(path), "rb") as audio:
        assert audio.getnchannels() == 1
        assert audio.getsampwidth() == 2
        assert audio.getframerate() == 22050
        seconds = audio.getnframes() / audio.getframerate()
    assert path.read_bytes()[:4] == b"RIFF" and path.read_bytes()[8:12] == b"WAVE"
    assert MIN_SECONDS <= seconds <= MAX_SECONDS
    assert speech.duration_ms == int(seconds * 1000)
    # Nothing but the file itself is left in the folder (the partial file was moved).
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@needs_espeak
def test_arabic_reminder_is_spoken_in_arabic_not_english(tmp_path: Path) -> None:
    text = _reminder("ar")
    # The translated template: Arabic letters, the amount's figures kept.
    assert any("\u0600" <= ch <= "\u06ff" for ch in text)
    assert "1250" in text and "50" in text
    english = voice.speak(_reminder("en"), language="en", path=tmp_path / "en.wav")
    arabic = voice.speak(text, language="ar", path=tmp_path / "ar.wav")
    assert (tmp_path / "en.wav").read_bytes() != (tmp_path / "ar.wav").read_bytes()
    assert english.duration_ms > 0 and arabic.duration_ms > 0


def test_amount_is_said_as_units_and_cents() -> None:
    assert voice.spoken_amount(125050, "KES") == "1250 Kenyan shillings and 50 cents"
    assert voice.spoken_amount(125000, "KES") == "1250 Kenyan shillings"
    # A currency without a name is spelt letter by letter; one without cents has none.
    assert voice.spoken_amount(7000, "UGX") == "7000 Ugandan shillings"
    assert voice.spoken_amount(105, "XOF") == "105 X O F"


def test_account_number_is_said_digit_by_digit() -> None:
    assert voice.spoken_digits("100200") == "1 0 0 2 0 0"


def test_missing_engine_is_a_clear_error(tmp_path: Path) -> None:
    with (
        override_settings(VOICE_ENGINE="espeak-ng-not-installed-here"),
        pytest.raises(VoiceEngineMissing) as caught,
    ):
        voice.speak("hello", language="en", path=tmp_path / "x.wav")
    assert caught.value.code == "VOICE_ENGINE_MISSING"
    assert list(tmp_path.iterdir()) == []


def test_language_without_a_voice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(VoiceLanguageUnsupported):
        voice.speak("bonjour", language="fr", path=tmp_path / "x.wav")


@needs_espeak
def test_a_file_that_is_no_wav_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(voice.VoiceEngineFailed):
        voice.read_wav(bogus)
