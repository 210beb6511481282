"""What the key tests share: a meter's key parameters, tokens made with a fixed RND, and the
meter simulator that must accept them."""

from __future__ import annotations

from decimal import Decimal

from gridvend.kernel.tokens import MeterKeyRef
from gridvend.keys.engine import SoftwareStsEngine, meter_params
from gridvend.sts.keys import VendingKey
from gridvend.sts.simulator import MeterSimulator
from tests.world import meter_number

# A fixed RND: equal keys then give equal tokens (otherwise each token has fresh random bits).
FIXED_RND = 0x5


def meter(key_ref: str, *, dkga: str = "02", ea: str = "07", serial: int = 4711) -> MeterKeyRef:
    return MeterKeyRef(
        meter_number=meter_number(serial),
        sgc="600675",
        ti=1,
        krn=2,
        kt=2,
        ken=255,
        ea=ea,  # type: ignore[arg-type]
        dkga=dkga,  # type: ignore[arg-type]
        base_date_year=2014,
        key_ref=key_ref,
    )


def credit_tokens(key_ref: str, *, dkga: str = "02", ea: str = "07") -> list[str]:
    """Three credit tokens and a power-limit token for one meter, TIDs fixed."""
    engine = SoftwareStsEngine(rnd_source=lambda: FIXED_RND)
    m = meter(key_ref, dkga=dkga, ea=ea)
    tokens = [
        engine.issue_credit(m, kwh=Decimal(kwh), tid=6_000_000 + i).digits
        for i, kwh in enumerate(("12.5", "100", "0.1"))
    ]
    tokens.append(
        engine.issue_engineering(m, kind="set_power_limit", value=3000, tid=6_000_010).digits
    )
    return tokens


def simulator(key_hex: str, *, dkga: str = "02", ea: str = "07") -> MeterSimulator:
    return MeterSimulator.for_meter(
        meter_params(meter("any", dkga=dkga, ea=ea)), VendingKey.from_hex(key_hex)
    )


def all_accepted(sim: MeterSimulator, tokens: list[str]) -> bool:
    return all(sim.enter(t).accepted for t in tokens)
