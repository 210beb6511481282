"""Set-ups of the multi-process tests: a master, a business-unit relay and stations as real
installs (tests/stations/processes.py), joined by links the tests cut."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from typing import Any

import pytest

from gridvend.stations import protocol
from gridvend.stations.client import MasterClient
from tests.stations.processes import Harness, Install, TcpProxy

# The parts of issue 17 built beside the relay: the integration tests that need them run once
# they are merged (their absence is reported as a skip, never as a pass).
PARTS = {
    "gridvend.stations.services.journal": "the master's apply (receive_batch)",
    "gridvend.stations.services.upload": "the station's upload (upload_pending)",
    "gridvend.stations.services.sync": "the station's sync cycle (run_sync_cycle)",
    "gridvend.stations.services.pull": "the station's down-sync (pull_changes)",
}


def needs(*modules: str) -> pytest.MarkDecorator:
    missing = [PARTS[m] for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason="needs " + ", ".join(missing) + " (issue 17)")


def _code_of(call: str, **kwargs: Any) -> str:
    """Python for ``gridvend shell``: ``result = scenes.<call>(**kwargs)``."""
    return f"from tests.stations import scenes\nresult = scenes.{call}(**{json.dumps(kwargs)})"


@dataclass
class RelayChain:
    """master <- (link ``up``) <- relay ``bu-relay`` <- (link ``down``) <- station ``bu-st1``,
    the station played by the test process with its own key (``station_client``)."""

    master: Install
    relay: Install
    up: TcpProxy
    down: TcpProxy
    relay_key: protocol.KeyPair
    child_key: protocol.KeyPair
    master_public: str
    relay_public: str

    def station_client(self) -> MasterClient:
        return MasterClient(
            base_url=self.down.url,
            station="bu-st1",
            seed=self.child_key.seed,
            master_public_hex=self.relay_public,
            timeout=20,
        )

    def forward(self) -> dict[str, Any]:
        """One ``forward_pending`` on the relay, as its sync cycle runs it."""
        result: dict[str, Any] = self.relay.python(
            "from gridvend.stations import local\n"
            "from gridvend.stations.client import LinkDown\n"
            "from gridvend.stations.services import relay\n"
            "try:\n"
            "    done = relay.forward_pending(local.client())\n"
            "    result = {'link': 'up', 'forwarded': done.forwarded, 'entries': done.entries,"
            " 'refused': done.refused}\n"
            "except LinkDown as down:\n"
            "    result = {'link': 'down', 'why': str(down)}\n"
        )
        return result

    def kept(self, install: Install) -> dict[str, Any]:
        """The batches and entries ``install`` holds of ``bu-st1``."""
        return kept(install, "bu-st1")


def kept(install: Install, station: str) -> dict[str, Any]:
    """The batches ``install`` holds of ``station`` (``[batch_id, status, first_seq, last_seq,
    forwarded, via]``) and the sequence numbers of its entries."""
    result: dict[str, Any] = install.python(
        "from gridvend.stations.models import StationBatch, StationEntry\n"
        f"batches = StationBatch.objects.filter(station__code={station!r}).order_by('first_seq')\n"
        "result = {\n"
        "    'batches': [[b.batch_id, b.status, b.first_seq, b.last_seq,"
        " b.forwarded_at is not None, b.via.code if b.via_id else None] for b in batches],\n"
        f"    'seqs': list(StationEntry.objects.filter(station__code={station!r})"
        ".order_by('seq').values_list('seq', flat=True)),\n"
        "}\n"
    )
    return result


def relay_chain(processes: Harness) -> RelayChain:
    relay_key, child_key = protocol.new_key_pair(), protocol.new_key_pair()
    rows = {
        "relay": "bu-relay",
        "relay_public": relay_key.public_hex,
        "child": "bu-st1",
        "child_public": child_key.public_hex,
    }
    master = processes.install("master", postgres=True)
    relay = processes.install("relay")
    master.python(_code_of("station_rows", **rows))
    master_public = master.python(_code_of("signing_public"))
    master.serve()
    up = processes.link(master)
    copy = relay.python(_code_of("station_rows", **rows))
    relay.python(
        _code_of(
            "identity",
            code="bu-relay",
            role="relay",
            master_url=up.url,
            seed_hex=relay_key.seed.hex(),
            master_public=master_public,
            upstream_public=master_public,
            org_unit_id_on_master=copy["unit_bu"],
        )
    )
    relay_public = relay.python(_code_of("signing_public"))
    relay.serve()
    down = processes.link(relay)
    return RelayChain(
        master=master,
        relay=relay,
        up=up,
        down=down,
        relay_key=relay_key,
        child_key=child_key,
        master_public=master_public,
        relay_public=relay_public,
    )
