"""STS (IEC 62055-41) prepayment token engine and meter simulator, pure Python."""

from gridvend.sts.engine import (
    ALL_REGISTERS,
    IssuedToken,
    StsEngine,
    credit_token,
    key_change_tokens,
    management_token,
    meter_test_token,
    power_limit_token,
)
from gridvend.sts.errors import StsError
from gridvend.sts.identity import MeterNumber, Pan, luhn_check_digit
from gridvend.sts.keys import (
    DecoderKey,
    DecoderKeyCache,
    Dkga,
    EncryptionAlgorithm,
    KeyType,
    MeterKeyParams,
    VendingKey,
    derive_decoder_key,
)
from gridvend.sts.simulator import MeterSimulator, Result, ResultCode
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import BaseDate, issue_time_for, tid_for
from gridvend.sts.tokens import (
    CreditSubclass,
    DecodedToken,
    ManagementSubclass,
    TokenClass,
    decode,
    group_digits,
)

__all__ = [
    "ALL_REGISTERS",
    "BaseDate",
    "CreditSubclass",
    "DecodedToken",
    "DecoderKey",
    "DecoderKeyCache",
    "Dkga",
    "EncryptionAlgorithm",
    "IssuedToken",
    "KeyType",
    "ManagementSubclass",
    "MeterKeyParams",
    "MeterNumber",
    "MeterSimulator",
    "Pan",
    "Result",
    "ResultCode",
    "StsEngine",
    "StsError",
    "TableSet",
    "TokenClass",
    "VendingKey",
    "credit_token",
    "decode",
    "derive_decoder_key",
    "group_digits",
    "issue_time_for",
    "key_change_tokens",
    "luhn_check_digit",
    "management_token",
    "meter_test_token",
    "power_limit_token",
    "tid_for",
]
