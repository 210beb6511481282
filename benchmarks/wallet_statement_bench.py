"""How long the portal's wallet statement PDF takes to lay out, on hand-built statements (no
database) of a few movement counts (a customer's month is tens of lines; a busy landlord's a few
hundred), in English and Arabic.

    GRIDVEND_TESTING=1 .venv/bin/python benchmarks/wallet_statement_bench.py [--rows 20,200,1000]

Nothing is asserted; the figures are printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("GRIDVEND_TESTING", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")


def render(rows: int, language: str) -> tuple[float, int]:
    from django.template.loader import render_to_string
    from django.utils import translation

    from gridvend.customers.models import Customer
    from gridvend.kernel.money import Money
    from gridvend.pdf.layout import STATIC_DIR, write_pdf
    from gridvend.wallet.models import Wallet
    from gridvend.wallet.selectors import Movement, Statement

    customer = Customer(name="Amina Yusuf", account_number="2430881140")
    wallet = Wallet(customer=customer, reference="W8KQSBC8ZX", currency="KES")
    running = 0
    movements = []
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for i in range(rows):
        amount = 50000 if i % 3 == 0 else -15000
        running += amount
        kind = "wallet.top_up" if amount > 0 else "sale"
        movements.append(
            Movement(
                start + timedelta(minutes=37 * i),
                kind,
                "",
                Money(amount, "KES"),
                Money(running, "KES"),
            )
        )
    statement = Statement(
        wallet,
        date(2026, 3, 1),
        date(2026, 3, 31),
        Money(0, "KES"),
        Money(running, "KES"),
        movements,
    )
    with translation.override(language):
        began = time.perf_counter()
        page = render_to_string(
            "portal/wallet_statement_pdf.html",
            {
                "statement": statement,
                "wallet": wallet,
                "customer_name": customer.name,
                "month": date(2026, 3, 1),
                "utility_name": "gridvend utility",
                "LANG": language,
                "RTL": translation.get_language_bidi(),
            },
        )
        body = write_pdf(page, stylesheets=[STATIC_DIR / "gridvend" / "statement.css"])
        return time.perf_counter() - began, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="20,200,1000")
    args = parser.parse_args()
    import django

    django.setup()
    for rows in [int(n) for n in args.rows.split(",") if n]:
        for language in ("en", "ar"):
            seconds, size = render(rows, language)
            print(
                f"statement PDF {rows:>5} movements {language}: {seconds:6.2f} s, {size:>8} bytes"
            )


if __name__ == "__main__":
    main()
