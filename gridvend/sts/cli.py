"""Command line for the STS engine: keys, tokens, meter numbers and the vector checker."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import TextIO

from gridvend.sts.amount import to_base_units
from gridvend.sts.engine import (
    IssuedToken,
    credit_token,
    management_token,
    meter_test_token,
    power_limit_token,
)
from gridvend.sts.errors import ParameterInvalid, StsError
from gridvend.sts.identity import parse_meter_or_pan
from gridvend.sts.keys import (
    DecoderKey,
    KeyType,
    MeterKeyParams,
    VendingKey,
    derive_decoder_key,
)
from gridvend.sts.tables import TableSet
from gridvend.sts.tid import KEN_NEVER_EXPIRES, BaseDate, check_tid, tid_for
from gridvend.sts.tokens import (
    ALL_REGISTERS,
    CreditSubclass,
    ManagementSubclass,
    TokenClass,
    decode,
)
from gridvend.sts.vectors import check_vectors, load_vectors

_COMMODITIES = {s.name.lower().replace("_", "-"): s for s in CreditSubclass}
_KINDS = (
    "credit",
    "max-power-limit",
    "phase-unbalance-limit",
    "clear-credit",
    "clear-tamper",
    "tariff-rate",
    "water-factor",
    "test",
)


def _add_key_params(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--meter", required=required, help="11/13-digit meter number or PAN")
    parser.add_argument("--sgc", required=required, help="supply group code (6 digits)")
    parser.add_argument("--ti", type=int, required=required, help="tariff index 0..99")
    parser.add_argument("--krn", type=int, required=required, help="key revision number")
    parser.add_argument("--kt", type=int, default=int(KeyType.DUTK), help="key type 0..3")
    parser.add_argument("--dkga", choices=("02", "04"), default="02")
    parser.add_argument("--ea", choices=("07", "11"), default="07", help="07 STA, 11 MISTY1")


def _add_vending_key(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--vending-key", metavar="HEX", help="vending key (never printed)")
    group.add_argument(
        "--vending-key-env",
        metavar="VAR",
        help="read the vending key hex from this environment variable (keeps it out of ps)",
    )


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridvend sts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    derive = sub.add_parser("derive-key", help="DKGA02/DKGA04 decoder key for a meter")
    _add_vending_key(derive)
    _add_key_params(derive, required=True)
    derive.add_argument("--base-date", default="1993", help="1993, 2014 or 2035 (DKGA04)")

    issue = sub.add_parser("issue", help="issue a credit or engineering token")
    issue.add_argument("--kind", choices=_KINDS, default="credit")
    issue.add_argument("--decoder-key", metavar="HEX", help="decoder key (natural byte order)")
    issue.add_argument("--byte-reversed", action="store_true", help="decoder key hex is reversed")
    _add_vending_key(issue)
    _add_key_params(issue, required=False)
    issue.add_argument("--ken", type=int, default=KEN_NEVER_EXPIRES, help="key expiry number")
    issue.add_argument("--base-date", default="1993", help="TID base date: 1993, 2014, 2035")
    issue.add_argument("--commodity", choices=sorted(_COMMODITIES), default="electricity")
    issue.add_argument("--amount", help="credit in kWh / m3 / min / currency units; watts")
    issue.add_argument("--value", type=lambda v: int(v, 0), help="raw 16-bit register value")
    issue.add_argument("--tid", type=int, help="token identifier (minutes since base date)")
    issue.add_argument("--issued-at", help="ISO time with zone (e.g. 2004-03-01T13:55Z)")
    issue.add_argument("--rnd", type=int, default=None, help="RND 0..15 (random if omitted)")
    issue.add_argument("--tables", choices=("real", "sample"), default="real")
    issue.add_argument("--control", type=lambda v: int(v, 16), default=0, help="test mask hex")
    issue.add_argument("--mfr-code", type=int, default=0, help="manufacturer code (test)")
    issue.add_argument("--four-digit-mfr", action="store_true", help="test token subclass 1")

    dec = sub.add_parser("decode", help="decode a token and print every field")
    dec.add_argument("token")
    dec.add_argument("--decoder-key", metavar="HEX", help="needed for classes 0 and 2")
    dec.add_argument("--byte-reversed", action="store_true")
    dec.add_argument("--tables", choices=("real", "sample"), default="real")

    verify = sub.add_parser("verify-meter", help="check a meter number or PAN")
    verify.add_argument("number")

    vectors = sub.add_parser("check-vectors", help="recompute every vector in a vectors file")
    vectors.add_argument("file")
    return parser


def _vending_key(args: argparse.Namespace) -> VendingKey | None:
    if args.vending_key_env:
        value = os.environ.get(args.vending_key_env)
        if not value:
            raise ParameterInvalid(f"environment variable {args.vending_key_env} is not set")
        return VendingKey.from_hex(value)
    if args.vending_key:
        return VendingKey.from_hex(args.vending_key)
    return None


def _params(args: argparse.Namespace, ken: int = KEN_NEVER_EXPIRES) -> MeterKeyParams:
    missing = [n for n in ("meter", "sgc", "ti", "krn") if getattr(args, n) is None]
    if missing:
        raise ParameterInvalid("missing key parameters: " + ", ".join("--" + m for m in missing))
    return MeterKeyParams.create(
        meter=args.meter,
        sgc=args.sgc,
        ti=args.ti,
        krn=args.krn,
        kt=args.kt,
        ken=ken,
        ea=args.ea,
        dkga=args.dkga,
        base_date=args.base_date,
    )


def _derive(args: argparse.Namespace, out: TextIO) -> int:
    vk = _vending_key(args)
    if vk is None:
        raise ParameterInvalid("give --vending-key or --vending-key-env")
    params = _params(args)
    key = derive_decoder_key(params, vk)
    print(f"pan: {params.pan}", file=out)
    print(f"algorithm: EA{key.algorithm.value}", file=out)
    print(f"decoder_key: {key.hex()}", file=out)
    print(f"decoder_key_byte_reversed: {key.secret_bytes()[::-1].hex().upper()}", file=out)
    return 0


def _tid(args: argparse.Namespace, base_date: BaseDate) -> int:
    if (args.tid is None) == (args.issued_at is None):
        raise ParameterInvalid("give exactly one of --tid or --issued-at")
    if args.tid is not None:
        return check_tid(args.tid)
    try:
        issued = datetime.fromisoformat(args.issued_at.replace("Z", "+00:00"))
    except ValueError:
        raise ParameterInvalid("--issued-at must be an ISO date-time") from None
    if issued.tzinfo is None:
        issued = issued.replace(tzinfo=UTC)
    return tid_for(issued, base_date)


def _issue(args: argparse.Namespace, out: TextIO) -> int:
    if args.kind == "test":
        token = meter_test_token(
            control=args.control, mfr_code=args.mfr_code, four_digit_mfr=args.four_digit_mfr
        )
        _print_issued(token, out)
        return 0
    vk = _vending_key(args)
    base_date = BaseDate.parse(args.base_date)
    if args.decoder_key:
        if vk is not None:
            raise ParameterInvalid("give either a decoder key or a vending key, not both")
        key = DecoderKey.from_hex(args.decoder_key, byte_reversed=args.byte_reversed)
        ken = args.ken
    elif vk is not None:
        params = _params(args, ken=args.ken)
        key = derive_decoder_key(params, vk)
        ken = params.ken
    else:
        raise ParameterInvalid("give --decoder-key, or --vending-key with the key parameters")
    tid = _tid(args, base_date)
    rnd = args.rnd if args.rnd is not None else secrets.randbelow(16)
    tables = TableSet(args.tables)
    token = _engineering_or_credit(args, key, tid=tid, rnd=rnd, ken=ken, tables=tables)
    _print_issued(token, out)
    return 0


def _engineering_or_credit(
    args: argparse.Namespace, key: DecoderKey, *, tid: int, rnd: int, ken: int, tables: TableSet
) -> IssuedToken:
    kind = args.kind
    if kind == "credit":
        if args.amount is None:
            raise ParameterInvalid("credit tokens need --amount")
        return credit_token(
            key,
            amount=args.amount,
            tid=tid,
            rnd=rnd,
            commodity=_COMMODITIES[args.commodity],
            ken=ken,
            tables=tables,
        )
    if kind in ("max-power-limit", "phase-unbalance-limit"):
        if args.amount is None:
            raise ParameterInvalid("power limits need --amount in watts")
        return power_limit_token(
            key,
            watts=to_base_units(args.amount, Decimal(1)),
            tid=tid,
            rnd=rnd,
            phase_unbalance=kind == "phase-unbalance-limit",
            ken=ken,
            tables=tables,
        )
    subclass, default = {
        "clear-credit": (ManagementSubclass.CLEAR_CREDIT, ALL_REGISTERS),
        "clear-tamper": (ManagementSubclass.CLEAR_TAMPER, 0),
        "tariff-rate": (ManagementSubclass.SET_TARIFF_RATE, None),
        "water-factor": (ManagementSubclass.SET_WATER_METER_FACTOR, None),
    }[kind]
    value = args.value if args.value is not None else default
    if value is None:
        raise ParameterInvalid(f"{kind} tokens need --value")
    return management_token(
        key, subclass=subclass, value=value, tid=tid, rnd=rnd, ken=ken, tables=tables
    )


def _print_issued(token: IssuedToken, out: TextIO) -> None:
    print(f"token: {token.display}", file=out)
    print(f"digits: {token.digits}", file=out)
    print(f"class: {int(token.token_class)}", file=out)
    print(f"subclass: {token.subclass}", file=out)
    for name in ("tid", "rnd", "value_field", "amount_base_units", "amount", "unit"):
        value = getattr(token, name)
        if value is None:
            continue
        if name == "value_field" and token.token_class == TokenClass.TEST:
            print(f"control: {value:X}", file=out)
        elif name == "value_field":
            print(f"value_field: {value:04X}", file=out)
        else:
            print(f"{name}: {value}", file=out)
    print(f"crc: {token.crc:04X}", file=out)


def _decode(args: argparse.Namespace, out: TextIO) -> int:
    key = (
        DecoderKey.from_hex(args.decoder_key, byte_reversed=args.byte_reversed)
        if args.decoder_key
        else None
    )
    token = decode(args.token, key, TableSet(args.tables))
    for name, value in token.fields().items():
        if name == "crc_ok":
            continue
        if name in ("block", "crc", "value_field") and isinstance(value, int):
            width = 16 if name == "block" else 4
            print(f"{name}: {value:0{width}X}", file=out)
        else:
            print(f"{name}: {value}", file=out)
    if token.kct_section is not None:
        print("key_word: <hidden>", file=out)
    print(f"crc_valid: {'yes' if token.crc_ok else 'no'}", file=out)
    return 0 if token.crc_ok else 1


def _verify_meter(args: argparse.Namespace, out: TextIO) -> int:
    try:
        meter = parse_meter_or_pan(args.number)
    except StsError as exc:
        print("valid: no", file=out)
        print(f"error: {exc.code}", file=out)
        return 1
    print("valid: yes", file=out)
    print(f"meter_number: {meter.digits}", file=out)
    print(f"manufacturer_code: {meter.manufacturer_code}", file=out)
    print(f"serial: {meter.serial}", file=out)
    print(f"iin: {meter.iin}", file=out)
    print(f"pan: {meter.pan}", file=out)
    return 0


def _check_vectors(args: argparse.Namespace, out: TextIO) -> int:
    try:
        vectors = load_vectors(args.file)
    except (OSError, ValueError, KeyError) as exc:
        print(f"cannot read {args.file}: {exc}", file=out)
        print("0 passed, 1 failed", file=out)
        return 1
    results = check_vectors(vectors)
    failed = [r for r in results if not r.passed]
    for result in failed:
        print(f"FAIL {result.vector_id} ({result.kind}): {'; '.join(result.problems)}", file=out)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=out)
    return 1 if failed else 0


_COMMANDS = {
    "derive-key": _derive,
    "issue": _issue,
    "decode": _decode,
    "verify-meter": _verify_meter,
    "check-vectors": _check_vectors,
}


def main(argv: list[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run ``gridvend sts`` with ``argv`` (default: sys.argv); returns the exit status."""
    args = _build_parser().parse_args(argv)
    stream = out if out is not None else sys.stdout
    try:
        return _COMMANDS[args.command](args, stream)
    except StsError as exc:
        # StsError text never contains key material, so it is safe to show.
        print(f"error: {exc}", file=sys.stderr)
        return 2
