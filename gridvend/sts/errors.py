"""Typed STS errors with stable UPPER_SNAKE codes that callers map to their own responses."""

from __future__ import annotations


class StsError(Exception):
    """Base class; ``code`` is stable and safe to show, ``str()`` never contains key material."""

    code: str = "STS_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class MeterNumberInvalid(StsError):
    code = "METER_NUMBER_INVALID"


class MeterNumberCheckDigit(StsError):
    code = "METER_NUMBER_CHECK_DIGIT"


class PanInvalid(StsError):
    code = "PAN_INVALID"


class PanCheckDigit(StsError):
    code = "PAN_CHECK_DIGIT"


class ParameterInvalid(StsError):
    code = "PARAMETER_INVALID"


class KeyInvalid(StsError):
    code = "KEY_INVALID"


class AlgorithmUnsupported(StsError):
    code = "ALGORITHM_UNSUPPORTED"


class AmountInvalid(StsError):
    code = "AMOUNT_INVALID"


class AmountOutOfRange(StsError):
    code = "AMOUNT_OUT_OF_RANGE"


class TidOutOfRange(StsError):
    code = "TID_OUT_OF_RANGE"


class KeyExpired(StsError):
    code = "KEY_EXPIRED"


class TokenFormatInvalid(StsError):
    code = "TOKEN_FORMAT_INVALID"


class TokenCrcInvalid(StsError):
    code = "TOKEN_CRC_INVALID"


class KeyChangeSameKey(StsError):
    code = "KEY_CHANGE_SAME_KEY"
