"""Throughput of the STS engine: tokens per second with and without key derivation, raw ciphers."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

# Runnable from a plain checkout (`python benchmarks/sts_bench.py`) without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from Crypto.Cipher import DES

from gridvend.sts import (
    DecoderKeyCache,
    MeterKeyParams,
    MeterSimulator,
    StsEngine,
    VendingKey,
)
from gridvend.sts.keys import DecoderKey, derive_decoder_key
from gridvend.sts.misty1 import Misty1Cipher
from gridvend.sts.sta import StaCipher

# The public compliance-test keys; never a production key.
VUDK = VendingKey.from_hex("ABABABABABABABAB")
VK160 = VendingKey.from_hex("ABABABABABABABAB949494949494949401234567")


def rate(label: str, count: int, fn: Callable[[int], object], unit: str) -> float:
    fn(0)  # warm caches and tables outside the timed loop
    start = time.perf_counter()
    for i in range(count):
        fn(i)
    elapsed = time.perf_counter() - start
    per_second = count / elapsed
    print(f"{label:<52} {per_second:>12,.0f} {unit}/s   ({elapsed * 1e6 / count:7.1f} µs each)")
    return per_second


def main() -> None:
    n = 20_000
    sta = StaCipher(0xE653341F9D5BF36F)
    misty = Misty1Cipher(bytes.fromhex("F94B6ED353C3BFDB113E2D3A7EA3C41D"))
    des = DES.new(VUDK.secret_bytes(), DES.MODE_ECB)
    blocks = [(i * 0x9E3779B97F4A7C15) & ((1 << 64) - 1) for i in range(n)]

    print("raw cipher operations")
    rate("  STA (EA07) encrypt", n, lambda i: sta.encrypt_block(blocks[i]), "ops")
    rate("  STA (EA07) decrypt", n, lambda i: sta.decrypt_block(blocks[i]), "ops")
    rate("  MISTY1 (EA11) encrypt", n // 4, lambda i: misty.encrypt_block(blocks[i]), "ops")
    rate("  DES encrypt (pycryptodome, DKGA02)", n, lambda i: des.encrypt(b"\x01" * 8), "ops")
    rate("  STA key schedule (new decoder key)", n // 10, lambda i: StaCipher(blocks[i]), "ops")

    sta_params = MeterKeyParams.create(meter="00000000000", sgc="123456", ti=1, krn=1, kt=2)
    misty_params = MeterKeyParams.create(
        meter="00000000000", sgc="123457", ti=1, krn=1, kt=2, dkga="04", ea="11"
    )
    engine = StsEngine(rnd_source=lambda: 5)

    print("credit tokens, one meter, decoder key cached")
    rate(
        "  DKGA02 + STA",
        n,
        lambda i: engine.issue_credit(sta_params, VUDK, amount="12.5", tid=i),
        "tokens",
    )
    rate(
        "  DKGA04 + MISTY1",
        n // 4,
        lambda i: engine.issue_credit(misty_params, VK160, amount="12.5", tid=i),
        "tokens",
    )

    print("credit tokens, a new meter every token (derivation + key schedule included)")
    uncached = StsEngine(cache=DecoderKeyCache(maxsize=1), rnd_source=lambda: 5)
    # A different SGC per token stands in for a different meter: every token derives a key.
    krn_params = [
        MeterKeyParams.create(meter="00000000000", sgc=f"{i:06d}", ti=1, krn=1, kt=2)
        for i in range(n // 4)
    ]
    rate(
        "  DKGA02 + STA",
        n // 4,
        lambda i: uncached.issue_credit(krn_params[i], VUDK, amount="12.5", tid=i),
        "tokens",
    )
    misty_many = [
        MeterKeyParams.create(
            meter="00000000000", sgc=f"{i:06d}", ti=1, krn=1, kt=2, dkga="04", ea="11"
        )
        for i in range(n // 8)
    ]
    rate(
        "  DKGA04 + MISTY1",
        n // 8,
        lambda i: uncached.issue_credit(misty_many[i], VK160, amount="12.5", tid=i),
        "tokens",
    )
    rate(
        "  DKGA02 derivation alone",
        n // 4,
        lambda i: derive_decoder_key(krn_params[i], VUDK),
        "keys",
    )

    print("meter simulator")
    key = DecoderKey.from_hex("E653341F9D5BF36F")
    tokens = [engine.issue_credit(sta_params, VUDK, amount="1", tid=i).digits for i in range(n)]
    meter = MeterSimulator(key, tid_memory_depth=50)
    meter.enter(tokens[0])
    rate(
        "  enter (decrypt, CRC, TID checks), STA",
        n - 1,
        lambda i: meter.enter(tokens[i + 1]),
        "tokens",
    )


if __name__ == "__main__":
    main()
