"""The API's wire shapes: what a partner sends (strict, bounded) and what it gets back.

Money is an integer number of minor units with its ISO 4217 currency; energy is a decimal string
of kWh; ids are the partner's own, 1 to 64 printable characters, unique per partner.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt, StringConstraints

Id = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
MeterNumber = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[0-9 -]+$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Kwh = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}(\.[0-9]{1,3})?$")]
ShortText = Annotated[str, StringConstraints(max_length=40, pattern=r"^[^\x00-\x1f\x7f]*$")]
Phone = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9 ]{0,19}$")]
Day = Annotated[
    str, StringConstraints(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
]
MAX_MINOR = 10**12


class Strict(Schema):
    """Unknown fields refused: a misspelt field must not be silently ignored in a sale."""

    model_config = ConfigDict(extra="forbid")


class Amount(Strict):
    minor: StrictInt = Field(ge=1, le=MAX_MINOR, description="Minor units (cents): 1050 = 10.50")
    currency: Currency


class MoneyOut(Schema):
    minor: int
    currency: str


class Till(Strict):
    """Where the partner sold it, as the partner names it (shown on statements, not trusted)."""

    vending_point: Annotated[str, StringConstraints(max_length=40)] = Field(
        "", description="One of the partner's vending point codes; empty: its default point"
    )
    terminal_id: ShortText = ""
    operator_id: ShortText = ""


class LookupIn(Strict):
    request_id: Id
    meter_number: MeterNumber


class CustomerOut(Schema):
    name: str
    account_number: str
    address: str


class LookupOut(Schema):
    request_id: str
    meter_number: str
    customer: CustomerOut
    currency: str
    min_amount: MoneyOut
    max_amount: MoneyOut | None
    arrears: MoneyOut
    fbe_due_kwh: str
    key_change_pending: bool


class TrialIn(Strict):
    request_id: Id
    meter_number: MeterNumber
    amount: Amount | None = None
    kwh: Kwh | None = None


class TrialOut(Schema):
    request_id: str
    meter_number: str
    currency: str
    amount: MoneyOut
    energy: MoneyOut
    tax: MoneyOut
    fixed_charges: MoneyOut
    debt_recovered: MoneyOut
    kwh: str
    fbe_kwh: str
    key_change_pending: bool
    token_count: int


class VendIn(Till):
    request_id: Id
    meter_number: MeterNumber
    amount: Amount | None = Field(None, description="Sell for this much money, or")
    kwh: Kwh | None = Field(None, description="sell this much energy (give one of the two)")
    msisdn: Phone = Field("", description="The buyer's phone, for the token SMS")


class PaymentIn(Till):
    request_id: Id
    meter_number: MeterNumber
    amount: Amount


class FreeIn(Till):
    request_id: Id
    meter_number: MeterNumber


class TokenOut(Schema):
    kind: str = Field(description="credit, fbe, key_change, engineering")
    token: str = Field(description="20 digits")
    display: str = Field(description="In groups of four, as the customer types it")
    units: str | None
    tid: int | None


class SaleOut(Schema):
    reference: str
    kind: str
    meter_number: str
    customer_name: str
    created_at: datetime
    business_date: date
    currency: str
    amount: MoneyOut
    energy: MoneyOut
    tax: MoneyOut
    fixed_charges: MoneyOut
    debt_recovered: MoneyOut
    kwh: str
    fbe_kwh: str
    tokens: list[TokenOut]


class VendOut(Schema):
    request_id: str
    state: str = Field(description="pending, confirmed, reversed, expired")
    replayed: bool = Field(description="True when this answers a repeat of the request id")
    sale: SaleOut


class AdviceIn(Strict):
    advice_id: Id


class ReversalIn(Strict):
    advice_id: Id
    reason: Literal["TIMEOUT", "CANCELLED", "RESPONSE_NOT_FINAL", "CUSTOMER_CANCELLED", "OTHER"] = (
        "OTHER"
    )


class AdviceOut(Schema):
    advice_id: str
    request_id: str
    outcome: str = Field(description="applied, or already (nothing left to do)")
    state: str


class ErrorDetail(Schema):
    code: str
    message: str
    params: dict[str, object]


class ErrorOut(Schema):
    error: ErrorDetail


class RequestOut(Schema):
    """The last response to a request id: what was sold (or why not), and where it stands."""

    request_id: str
    kind: str
    state: str = Field(description="pending, confirmed, reversed, expired, declined")
    created_at: datetime
    finalised_at: datetime | None
    sale: SaleOut | None
    error: ErrorDetail | None


class FloatOut(Schema):
    partner: str
    currency: str
    balance: MoneyOut = Field(description="What the float holds (negative: drawn on credit)")
    credit_limit: MoneyOut
    available: MoneyOut


class StatementOut(Schema):
    partner: str
    business_date: date
    currency: str
    opening: MoneyOut
    sales: MoneyOut
    sale_count: int
    reversals: MoneyOut
    reversal_count: int
    top_ups: MoneyOut
    top_up_count: int
    closing: MoneyOut
    ties_to_ledger: bool = Field(description="opening + top-ups - sales + reversals = closing")


class FaultIn(Strict):
    request_id: Id
    meter_number: MeterNumber
    category: Literal[
        "no_supply", "meter_tamper", "token_rejected", "display_fault", "keypad_fault", "other"
    ] = "other"
    description: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    reporter_phone: Phone = ""


class FaultOut(Schema):
    request_id: str
    fault_id: int
    meter_number: str
    category: str
    status: str


class ReprintIn(Strict):
    request_id: Id = Field(description="The request id of the sale to reprint")
