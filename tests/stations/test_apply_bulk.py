"""The master writes a batch's offline sales together (``OfflineBatch.add`` then ``write``):
the rows are exactly those the sales write one by one (``record_offline_sale``): sales, tokens,
journal entries and postings, audit events and their chain, debts paid down, meters' TIDs and
what was found. The audit trail written in bulk verifies, and an edit of one of its rows is
caught."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from gridvend.audit import context, triggers
from gridvend.audit.models import AuditEvent, AuditHead
from gridvend.audit.verify import verify_chain
from gridvend.customers import services as customers
from gridvend.customers.models import Debt
from gridvend.ledger.models import JournalEntry, Posting
from gridvend.ledger.selectors import reconcile_balances, unbalanced_entries
from gridvend.meters import services as meters
from gridvend.meters.models import Meter
from gridvend.stations import protocol
from gridvend.stations.services.journal import receive_batch
from gridvend.vending import services as vending
from gridvend.vending.integrity.sales import created_event_type, verify_sales
from gridvend.vending.models import Sale, SaleKind, Token
from gridvend.vending.services import _sale
from gridvend.vending.services.offline import (
    OfflineSaleResult,
    prepare_offline_batch,
    record_offline_sale,
)
from tests.stations.offline import OfflineStation, batch, offline_station
from tests.world import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def st() -> OfflineStation:
    return offline_station(build_world())


@pytest.fixture
def references(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[itertools.count]]:
    """Sale references drawn from a counter restarted for each run, so that two runs that
    write the same sales give them the same references (they are random otherwise)."""
    counter = [itertools.count(1)]
    monkeypatch.setattr(_sale, "_new_reference", lambda: f"S{next(counter[0]):011d}")
    yield counter


def _journal(st: OfflineStation) -> list[dict[str, Any]]:
    """Sales over four meters with everything a batch can meet: a customer with two debts
    that two sales pay down (the second finds less than it recovered), a TID the master used
    meanwhile, a meter blocked meanwhile, several sales of one meter."""
    world = st.world
    debtor, clashing, blocked, plain = (world.add_meter() for _ in range(4))
    for amount in ("30", "100"):
        customers.open_debt(
            actor=world.supervisor,
            customer=world.customer(debtor),
            amount=world.money(amount),
            reason="arrears",
        )
    online = vending.vend_credit(
        actor=world.cashier,
        vending_point=world.point,
        client_reference="online-1",
        meter_number=clashing.number,
        tender=world.money("250"),
    )
    used = online.tokens[0].tid
    entries = [
        st.sell(debtor, "400"),
        st.sell(plain, "250"),
        st.sell(clashing, "260", tid=used),
        st.sell(debtor, "400"),
        st.sell(blocked, "300"),
        st.sell(plain, "275"),
        st.sell(clashing, "210"),
    ]
    first = protocol.read_entry(entries[0], public_hex=st.key.public_hex)
    recovered = first.data["debt_recovered_minor"]
    assert recovered > 0
    # Meanwhile the master settled part of the debts: the first sale takes from both, the
    # second finds less than it recovered.
    older, newer = Debt.objects.filter(customer=world.customer(debtor)).order_by("opened_at", "id")
    left = min(recovered // 3, older.balance_minor)
    Debt.objects.filter(pk=older.pk).update(balance_minor=left)
    Debt.objects.filter(pk=newer.pk).update(balance_minor=min(recovered, newer.balance_minor))
    assert left + min(recovered, newer.balance_minor) < 2 * recovered
    meters.block_meter(actor=world.admin, meter=blocked, reason="tamper seen")
    return entries


def _run(
    st: OfflineStation, entries: list[dict[str, Any]], *, bulk: bool
) -> tuple[list[OfflineSaleResult], dict[str, Any]]:
    """Record the journal's sales (together or one by one) in a transaction rolled back after
    what it wrote is read."""
    read = [protocol.read_entry(e, public_hex=st.key.public_hex) for e in entries]
    records = [(entry.data, entry.entry_hash) for entry in read]
    last_event = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    # One upload's request (outside one, each event makes up its own request id).
    upload = context.RequestContext(ip="192.0.2.7", request_id="upload-1", channel="station")
    with context.bound(upload), transaction.atomic():
        offline = prepare_offline_batch(vending_point=st.point, records=[d for d, _h in records])
        common: dict[str, Any] = {
            "actor": st.operator,
            "vending_point": st.point,
            "org_unit": st.station.org_unit,
        }
        if bulk:
            for data, fingerprint in records:
                offline.add(record=data, fingerprint=fingerprint, **common)
            results = offline.write()
        else:
            results = [
                record_offline_sale(record=data, fingerprint=fingerprint, batch=offline, **common)
                for data, fingerprint in records
            ]
            offline.finish()
        snapshot = _snapshot(st, results, last_event)
        transaction.set_rollback(True)
    return results, snapshot


def _snapshot(st: OfflineStation, results: list[OfflineSaleResult], last_event: int) -> dict:
    """Every row the sales wrote, as stored, with the keys of rows written in the run given
    as their place among them (a sequence on PostgreSQL is not rolled back with the run)."""
    sale_ids = [r.sale.pk for r in results]
    sales: list[dict[str, Any]] = [
        dict(row) for row in Sale.objects.filter(pk__in=sale_ids).order_by("id").values()
    ]
    entry_ids = [s["journal_entry_id"] for s in sales]
    place = {"sale": {pk: n for n, pk in enumerate(sale_ids)}}
    place["entry"] = {pk: n for n, pk in enumerate(entry_ids)}
    tokens: list[dict[str, Any]] = [
        dict(row) for row in Token.objects.filter(sale_id__in=sale_ids).order_by("id").values()
    ]
    entries: list[dict[str, Any]] = [
        dict(row) for row in JournalEntry.objects.filter(pk__in=entry_ids).order_by("id").values()
    ]
    postings = list(
        Posting.objects.filter(entry_id__in=entry_ids)
        .order_by("entry_id", "id")
        .values("entry_id", "account__code", "amount_minor", "currency")
    )
    events: list[dict[str, Any]] = [
        dict(row) for row in AuditEvent.objects.filter(id__gt=last_event).order_by("id").values()
    ]
    raw = {
        "sales": sales,
        "tokens": tokens,
        "entries": entries,
        "postings": postings,
        "events": events,
    }
    for sale in sales:
        sale["id"] = place["sale"][sale["id"]]
        sale["journal_entry_id"] = place["entry"][sale["journal_entry_id"]]
    for token in tokens:
        token["id"] = None
        token["sale_id"] = place["sale"][token["sale_id"]]
    for entry in entries:
        # When the entry row was written (not when the sale was made) differs between runs.
        entry["id"], entry["occurred_at"] = place["entry"][entry["id"]], None
    for posting in postings:
        posting["entry_id"] = place["entry"][posting["entry_id"]]
    for event in events:
        assert event["event_type"] == created_event_type(SaleKind.CREDIT)
        event["target_id"] = place["sale"][int(event["target_id"])]
        # When it was recorded, so its hash and the next one's link, differ between runs; the
        # digests bind the rows' keys (compared where the runs gave the same keys, below).
        event.update(id=None, occurred_at=None, hash=None, prev_hash=None)
        event["after"] = {k: v for k, v in event["after"].items() if k != "digests"}
    return {
        "rows": raw,
        "sale_ids": sale_ids,
        "digests": [
            (after or {})["digests"]
            for after in AuditEvent.objects.filter(id__gt=last_event)
            .order_by("id")
            .values_list("after", flat=True)
        ],
        "findings": [[(f.kind, f.detail) for f in r.findings] for r in results],
        "debts": list(Debt.objects.order_by("id").values_list("id", "balance_minor")),
        "last_tids": list(Meter.objects.order_by("id").values_list("id", "last_tid")),
        "heads": list(AuditHead.objects.order_by("id").values_list("id", "seq")),
        "chain_ok": verify_chain().ok,
        "sales_ok": verify_sales().ok,
        "books_ok": not reconcile_balances() and not unbalanced_entries(),
    }


def test_a_batch_written_together_writes_the_rows_the_sales_write_one_by_one(
    st: OfflineStation, references: list[itertools.count]
) -> None:
    entries = _journal(st)
    references[0] = itertools.count(1_000)
    _results, alone = _run(st, entries, bulk=False)
    references[0] = itertools.count(1_000)
    _results, together = _run(st, entries, bulk=True)

    assert alone["rows"] == together["rows"]
    assert alone["findings"] == together["findings"]
    assert alone["debts"] == together["debts"] and alone["last_tids"] == together["last_tids"]
    assert alone["heads"] == together["heads"]
    # The batch met what it was built to meet, in the same places.
    kinds = [[kind for kind, _detail in found] for found in together["findings"]]
    assert kinds == [[], [], ["tid_clash"], ["debt_changed"], ["meter_blocked"], [], []]
    assert [len(together["rows"]["sales"]), len(together["rows"]["events"])] == [7, 7]
    assert together["chain_ok"] and together["sales_ok"] and together["books_ok"]
    assert alone["chain_ok"] and alone["sales_ok"] and alone["books_ok"]
    if alone["sale_ids"] == together["sale_ids"]:
        # The same keys (SQLite rolls its sequences back): the digests bind the same rows.
        assert alone["digests"] == together["digests"]


def _tamper(sql: str, params: list[Any]) -> None:
    """What someone who may drop triggers does: lift them, edit, put them back."""
    triggers.uninstall(connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
    triggers.install(connection)


def test_a_batch_written_together_verifies_and_an_edited_event_of_it_is_caught(
    st: OfflineStation, capsys: pytest.CaptureFixture[str]
) -> None:
    entries = [st.open_shift(), *_journal(st)]
    entries.append(st.close_shift(cash_minor=st.sold_total))

    answer = receive_batch(station=st.station, body=batch(entries, "bulk-1"))

    assert answer["status"] == "applied" and answer["conflicts"] == 3
    call_command("audit", "verify")
    assert verify_sales().ok
    sold = Sale.objects.filter(vending_point=st.point).values_list("pk", flat=True)
    created = list(
        AuditEvent.objects.filter(
            event_type=created_event_type(SaleKind.CREDIT), target_id__in=[str(pk) for pk in sold]
        ).order_by("id")
    )
    assert len(created) == 7
    # The bulk-written events follow each other in one stream, each linked to the one before.
    assert len({e.stream for e in created}) == 1
    assert [e.seq for e in created] == list(range(created[0].seq, created[0].seq + 7))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(created))
    victim = created[3]
    _tamper(
        "UPDATE audit_auditevent SET actor_label = %s WHERE id = %s", ["someone else", victim.pk]
    )
    with pytest.raises(CommandError, match="audit chain broken"):
        call_command("audit", "verify")
    out = capsys.readouterr().out
    assert f"stream {victim.stream} row {victim.seq} (event #{victim.pk}): content does not " in out
