"""Delegation rules: only lower roles, only inside your subtree, only capabilities you hold."""

import pytest

from gridvend.audit.models import AuditEvent
from gridvend.identity import services
from gridvend.identity.errors import AccessDenied, DelegationRefused, NotFound
from gridvend.identity.models import CapabilityGrant, User
from gridvend.identity.roles import Capability, Role
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree() -> factories.Tree:
    return factories.Tree()


def _state() -> tuple[int, int, int]:
    return User.objects.count(), CapabilityGrant.objects.count(), AuditEvent.objects.count()


def _attempt(actor: User, **overrides: object) -> None:
    kwargs: dict[str, object] = {
        "actor": actor,
        "username": "newcomer",
        "full_name": "New Comer",
        "org_unit": actor.org_unit,
        "role": Role.OPERATOR,
        "password": factories.PASSWORD,
        "capabilities": (),
    }
    kwargs.update(overrides)
    services.create_user(**kwargs)  # type: ignore[arg-type]


def test_manager_creates_operator_below_with_held_capability(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,))
    created = services.create_user(
        actor=manager,
        username="till1",
        full_name="Till One",
        org_unit=tree.north_sc,
        role=Role.OPERATOR,
        password=factories.PASSWORD,
        capabilities=[Capability.CASHIER],
    )
    assert created.capability_set() == {Capability.CASHIER}
    event = AuditEvent.objects.get(event_type="user.created", target_id=str(created.pk))
    assert event.actor_id == manager.pk


@pytest.mark.parametrize(
    "role", [Role.VENDING_POINT_MANAGER, Role.MASTER_STATION_MANAGER, Role.ADMINISTRATOR]
)
def test_granting_own_or_higher_role_is_refused(tree: factories.Tree, role: str) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    before = _state()
    with pytest.raises(DelegationRefused):
        _attempt(manager, role=role)
    assert _state() == before


def test_placing_user_outside_own_subtree_is_refused(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    before = _state()
    with pytest.raises(DelegationRefused):
        _attempt(manager, org_unit=tree.south_sc)
    with pytest.raises(DelegationRefused):
        _attempt(manager, org_unit=tree.root)
    assert _state() == before


def test_granting_capability_not_held_is_refused(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,))
    before = _state()
    with pytest.raises(DelegationRefused):
        _attempt(manager, capabilities=[Capability.CASHIER, Capability.FINANCE])
    assert _state() == before


def test_operator_cannot_create_users(tree: factories.Tree) -> None:
    operator = factories.user(tree.north_sc, Role.OPERATOR, (Capability.CASHIER,))
    before = _state()
    with pytest.raises(AccessDenied):
        _attempt(operator)
    assert _state() == before


def test_promoting_a_user_to_own_rank_is_refused(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    operator = factories.user(tree.north_sc)
    before = _state()
    with pytest.raises(DelegationRefused):
        services.update_user(actor=manager, user=operator, role=Role.VENDING_POINT_MANAGER)
    operator.refresh_from_db()
    assert operator.role == Role.OPERATOR
    assert _state() == before


def test_peer_manager_cannot_be_changed(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    peer = factories.user(tree.north_bu, Role.VENDING_POINT_MANAGER)
    with pytest.raises(AccessDenied):
        services.update_user(actor=manager, user=peer, is_active=False)
    peer.refresh_from_db()
    assert peer.is_active


def test_user_of_another_region_is_not_found(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    stranger = factories.user(tree.south_sc)
    with pytest.raises(NotFound):
        services.update_user(actor=manager, user=stranger, full_name="Renamed")
    stranger.refresh_from_db()
    assert stranger.full_name == "Test User"


def test_moving_a_user_out_of_own_subtree_is_refused(tree: factories.Tree) -> None:
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER)
    operator = factories.user(tree.north_sc)
    with pytest.raises(DelegationRefused):
        services.update_user(actor=manager, user=operator, org_unit=tree.south_sc)
    operator.refresh_from_db()
    assert operator.org_unit_id == tree.north_sc.pk


def test_keeping_a_capability_the_manager_lacks_is_allowed(tree: factories.Tree) -> None:
    operator = factories.user(tree.north_sc, capabilities=(Capability.FINANCE,))
    manager = factories.user(tree.north, Role.VENDING_POINT_MANAGER, (Capability.CASHIER,))
    services.update_user(
        actor=manager, user=operator, capabilities=[Capability.FINANCE, Capability.CASHIER]
    )
    operator.refresh_from_db()
    assert operator.capability_set() == {Capability.FINANCE, Capability.CASHIER}


def test_weak_password_is_refused_and_nothing_written(tree: factories.Tree) -> None:
    before = _state()
    with pytest.raises(Exception, match=r"password|short|common"):
        _attempt(tree.admin, password="12345")
    assert _state() == before
