"""The tree, point and user screens beyond the access matrix (tests/matrix.py): lists scoped to
the subtree, the operation log's filters, the forms' effects and refusals."""

from dataclasses import dataclass

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity.models import User
from gridvend.identity.roles import Capability, Role
from gridvend.org.models import VendingPoint
from tests import factories
from tests.signin import signed_in as _client
from tests.world import build_world, with_regions

pytestmark = pytest.mark.django_db


@dataclass
class World:
    """The shared world's two regions (tests/world.py) as these screens use them."""

    tree: factories.Tree
    north_point: VendingPoint
    south_point: VendingPoint
    north_manager: User  # vending-point manager who also sells: may grant cashier, not finance
    north_cashier: User
    south_cashier: User


@pytest.fixture
def world() -> World:
    shared = build_world()
    regions = with_regions(shared)
    north_manager = factories.user(
        shared.tree.north, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,), username="nm"
    )
    return World(
        shared.tree,
        regions.north.point,
        regions.south.point,
        north_manager,
        regions.north.cashier,
        regions.south.cashier,
    )


def test_lists_show_only_own_subtree(world: World) -> None:
    client = _client(world.north_manager)
    body = client.get("/vending-points/").content.decode()
    assert world.north_point.name in body
    assert world.south_point.name not in body
    users = client.get("/users/").content.decode()
    north, south = world.north_cashier.username, world.south_cashier.username
    assert f">{north}<" in users and f">{south}<" not in users
    units = client.get("/org/").content.decode()
    assert "North SC" in units and "South SC" not in units


def test_other_regions_objects_answer_404(world: World) -> None:
    tree = world.tree
    client = _client(world.north_manager)
    south_user = world.south_cashier
    assert client.get(f"/org/{tree.south_sc.pk}/").status_code == 404
    assert client.get(f"/org/{tree.root.pk}/").status_code == 404
    assert client.get(f"/vending-points/{world.south_point.pk}/").status_code == 404
    assert client.get(f"/users/{south_user.pk}/").status_code == 404
    assert client.get(f"/org/{tree.north_sc.pk}/").status_code == 200
    assert client.get(f"/vending-points/{world.north_point.pk}/").status_code == 200


def test_only_administrators_read_the_operation_log(world: World) -> None:
    tree = world.tree
    assert _client(world.north_manager).get("/operation-log/").status_code == 403
    auditor = factories.user(tree.root, Role.MASTER_STATION_MANAGER, (Capability.AUDITOR,))
    assert _client(auditor).get("/operation-log/").status_code == 403
    page = _client(tree.admin).get("/operation-log/?event_type=user.created&actor=root-admin")
    assert page.status_code == 200
    # The rows show the type in <code>; the filter's options name every type anyway.
    assert "<code>user.created</code>" in page.content.decode()
    filtered = _client(tree.admin).get("/operation-log/?event_type=org_unit.moved")
    assert "<code>user.created</code>" not in filtered.content.decode()
    by_area = _client(tree.admin).get("/operation-log/?event_type=user.")
    assert "<code>user.created</code>" in by_area.content.decode()
    assert _client(tree.admin).get("/operation-log/?event_type=no.such_type").status_code == 400


def test_manager_creates_unit_point_and_user_through_screens(world: World) -> None:
    tree = world.tree
    admin_client = _client(tree.admin)
    response = admin_client.post(
        f"/org/{tree.north_sc.pk}/",
        {
            "action": "add-point",
            "point-name": "Market Kiosk",
            "point-channel": "agent",
            "point-ip_allow_list": "10.0.0.0/24",
        },
    )
    assert response.status_code == 302
    point = VendingPoint.objects.get(name="Market Kiosk")
    assert point.org_unit_id == tree.north_sc.pk and point.ip_allow_list == "10.0.0.0/24"
    bad = admin_client.post(
        f"/org/{tree.north_sc.pk}/",
        {
            "action": "add-point",
            "point-name": "Bad",
            "point-channel": "agent",
            "point-ip_allow_list": "not-an-ip",
        },
    )
    assert bad.status_code == 200 and "not an IP address" in bad.content.decode()
    assert not VendingPoint.objects.filter(name="Bad").exists()

    manager_client = _client(world.north_manager)
    response = manager_client.post(
        "/users/new/",
        {
            "username": "kiosk.till",
            "full_name": "Kiosk Till",
            "org_unit": tree.north_sc.pk,
            "role": "operator",
            "capabilities": ["cashier"],
            "password": "a-long-new-password-5",
        },
    )
    assert response.status_code == 302
    created = User.objects.get(username="kiosk.till")
    assert created.capability_set() == {"cashier"}
    refused = manager_client.post(
        "/users/new/",
        {
            "username": "fin",
            "full_name": "Fin",
            "org_unit": tree.north_sc.pk,
            "role": "operator",
            "capabilities": ["finance"],
            "password": "a-long-new-password-5",
        },
    )
    assert refused.status_code == 200
    assert not User.objects.filter(username="fin").exists()


def test_administrator_renames_and_adds_levels(world: World) -> None:
    from gridvend.org.models import OrgLevel

    admin = _client(world.tree.admin)
    region = OrgLevel.objects.get(depth=1)
    response = admin.post(
        "/org/levels/", {"action": "rename", "level": region.pk, "name": "Province"}
    )
    assert response.status_code == 302
    region.refresh_from_db()
    assert region.name == "Province"
    admin.post("/org/levels/", {"action": "add", "name": "Feeder zone"})
    deepest = OrgLevel.objects.order_by("-depth").first()
    assert deepest is not None and deepest.name == "Feeder zone"
    assert AuditEvent.objects.filter(event_type="org_level.added").exists()
    manager = _client(world.north_manager)
    before = list(OrgLevel.objects.values_list("name", flat=True))
    assert manager.get("/org/levels/").status_code == 403
    assert manager.post("/org/levels/", {"action": "add", "name": "x"}).status_code == 403
    assert list(OrgLevel.objects.values_list("name", flat=True)) == before


def test_unknown_address_gets_the_sites_own_404_page(world: World) -> None:
    response = _client(world.north_manager).get("/no-such-page/")
    assert response.status_code == 404
    assert 'data-code="NOT_FOUND"' in response.content.decode()


def test_a_users_phone_is_stored_in_e164_and_a_non_number_is_refused(world: World) -> None:
    client = _client(world.north_manager)
    data = {
        "username": "phone.till",
        "full_name": "Phone Till",
        "org_unit": world.tree.north_sc.pk,
        "role": "operator",
        "capabilities": ["cashier"],
        "password": "a-long-new-password-5",
    }
    refused = client.post("/users/new/", {**data, "phone": "0745"})
    assert refused.status_code == 200
    assert "too short" in " ".join(refused.context["form"].errors["phone"])
    assert not User.objects.filter(username="phone.till").exists()
    assert client.post("/users/new/", {**data, "phone": "(074) 527-5900"}).status_code == 302
    assert User.objects.get(username="phone.till").phone == "+254745275900"
