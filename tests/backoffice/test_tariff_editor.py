"""The form-based tariff editor: every part of the spec as fields, refusals beside their field."""

from __future__ import annotations

from typing import Any

import pytest

from gridvend.tariffs import services as tariff_services
from gridvend.tariffs.models import TariffVersion, VersionStatus
from gridvend.web.backoffice.tariff_editor import TariffEditor
from tests.backoffice.conftest import World, snapshot
from tests.signin import signed_in as client_for
from tests.tariffs.factories import RESIDENTIAL_SPEC, residential_spec

pytestmark = pytest.mark.django_db


def form_data(editor: TariffEditor) -> dict[str, Any]:
    """What a browser would post for the editor as drawn: every field's shown value."""
    data: dict[str, Any] = {}
    forms = [editor.general]
    for formset in editor.formsets().values():
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms += list(formset.forms)
    for form in forms:
        for name in form.fields:
            bound = form[name]
            value = bound.value()
            if name == "DELETE" or isinstance(value, bool):
                if value:
                    data[bound.html_name] = "on"
                continue
            data[bound.html_name] = "" if value is None else str(value)
    return data


def _editor(spec: dict[str, Any], notes: str = "") -> dict[str, Any]:
    return form_data(TariffEditor.from_spec("KES", spec, notes))


def _latest(world: World) -> TariffVersion:
    return TariffVersion.objects.filter(tariff=world.north.tariff).latest("number")


def _new(world: World, data: dict[str, Any]) -> Any:
    return client_for(world.maker).post(f"/tariffs/{world.north.tariff.pk}/versions/new/", data)


def test_the_editor_shows_the_latest_version_as_rows(world: World) -> None:
    body = client_for(world.maker).get(f"/tariffs/{world.north.tariff.pk}/versions/new/")
    text = body.content.decode()
    assert 'name="blocks-1-up_to_kwh" value="150"' in text
    assert 'name="blocks-1-rate" value="18.50"' in text
    assert 'name="charges-0-amount" value="150"' in text  # 15000 minor units, in shillings
    assert 'name="taxes-0-rate" value="16"' in text  # 0.16 as a percentage
    assert 'name="debt_rate" value="25"' in text
    assert "Edit as JSON (advanced)" in text


def test_an_unchanged_form_saves_the_same_specification(world: World) -> None:
    data = _editor(RESIDENTIAL_SPEC, "no change")
    response = _new(world, data)
    version = _latest(world)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == f"/tariff-versions/{version.pk}/"
    assert tariff_services._validated_spec(world.north.tariff, RESIDENTIAL_SPEC) == version.spec
    assert version.notes == "no change"
    assert version.status == VersionStatus.DRAFT and version.created_by == world.maker


def test_every_part_of_the_spec_is_set_through_fields(world: World) -> None:
    data = _editor(residential_spec())
    data.update(
        {
            "blocks-0-up_to_kwh": "40",
            "blocks-0-rate": "11.5",
            "blocks-2-DELETE": "on",  # the open-ended 24.00 block goes
            "blocks-1-up_to_kwh": "",  # and the 18.50 block becomes the last
            "charges-0-name": "Meter rent",
            "charges-0-amount": "75.50",
            "charges-0-period": "day",
            "charges-0-max_periods": "10",
            "charges-0-cap": "500",
            "taxes-0-rate": "8",
            "taxes-0-inclusive": "on",
            "taxes-1-code": "REL",
            "taxes-1-rate": "1.5",
            "taxes-1-on_energy": "on",
            "fbe_residential": "25",
            "fbe_commercial": "",
            "debt_rate": "10",
            "debt_min": "5",
            "debt_max": "",
            "debt_month": "1000",
            "min_sale": "20",
            "max_sale": "50000",
            "notes": "Rent per day",
        }
    )
    data.pop("taxes-1-on_fixed", None)
    response = _new(world, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    spec = _latest(world).spec
    assert spec["energy"] == {
        "type": "blocks",
        "blocks": [{"up_to_kwh": "40", "rate": "11.50"}, {"up_to_kwh": None, "rate": "18.50"}],
    }
    assert spec["fixed_charges"] == [
        {
            "name": "Meter rent",
            "amount_minor": 7550,
            "period": "day",
            "max_periods": 10,
            "max_amount_minor": 50000,
        }
    ]
    assert spec["taxes"] == [
        {
            "code": "VAT",
            "rate": "0.08",
            "applies_to_energy": True,
            "applies_to_fixed": True,
            "inclusive": True,
        },
        {
            "code": "REL",
            "rate": "0.015",
            "applies_to_energy": True,
            "applies_to_fixed": False,
            "inclusive": False,
        },
    ]
    assert spec["fbe_kwh"] == {"residential": "25"}
    assert spec["debt_recovery"] == {
        "rate": "0.1",
        "min_per_sale_minor": 500,
        "max_per_sale_minor": None,
        "max_per_month_minor": 100000,
    }
    assert (spec["min_sale_minor"], spec["max_sale_minor"]) == (2000, 5000000)


def test_one_block_without_a_limit_is_a_flat_rate_and_sections_can_be_empty(
    world: World,
) -> None:
    data = _editor(residential_spec())
    data.update({"blocks-0-up_to_kwh": "", "blocks-0-rate": "20", "debt_enabled": ""})
    for key in ("blocks-1-DELETE", "blocks-2-DELETE", "charges-0-DELETE", "taxes-0-DELETE"):
        data[key] = "on"
    data.pop("debt_enabled")
    response = _new(world, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    spec = _latest(world).spec
    assert spec["energy"] == {"type": "flat", "rate": "20.00"}
    assert spec["fixed_charges"] == [] and spec["taxes"] == []
    assert spec["debt_recovery"] is None


@pytest.mark.parametrize(
    ("change", "where", "path", "shown"),
    [
        (
            {"blocks-1-up_to_kwh": "30"},
            "Energy block 2",
            "energy.blocks[1]",
            "Each block&#x27;s upper limit must be above the one before.",
        ),
        (
            {"blocks-2-up_to_kwh": "500"},
            "Energy block 3",
            "energy.blocks[2]",
            "Leave the upper limit of the last block empty",
        ),
        (
            {"taxes-0-rate": "0"},
            "Tax 1",
            "taxes[0]",
            "Enter a rate above 0 % and at most 100 %.",
        ),
        (
            {"taxes-1-code": "VAT", "taxes-1-rate": "2", "taxes-1-on_energy": "on"},
            "Tax 2",
            "taxes[1]",
            "Two taxes have this code.",
        ),
        ({"charges-0-name": ""}, "Fixed charge 1", "fixed_charges[0]", "Give the fixed charge"),
        (
            {"debt_min": "600"},
            "Debt recovery",
            "debt_recovery",
            "The most per sale must not be below the least per sale.",
        ),
        (
            {"min_sale": "900", "max_sale": "800"},
            "Sale limits",
            "max_sale_minor",
            "The largest sale must not be below the smallest sale.",
        ),
    ],
    ids=["limits", "last-bounded", "tax-zero", "tax-twice", "charge-name", "debt", "limits"],
)
def test_the_kernels_refusal_names_the_field_and_nothing_is_saved(
    world: World, change: dict[str, str], where: str, path: str, shown: str
) -> None:
    data = _editor(residential_spec())
    data.update(change)
    before = snapshot()
    response = _new(world, data)
    body = response.content.decode()
    assert response.status_code == 200
    assert where in body and f'<code dir="ltr">{path}</code>' in body
    assert body.count(shown) >= 2  # in the list at the top and beside the field
    assert snapshot() == before


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"blocks-0-rate": "1e700000"}, "Enter a number."),
        ({"blocks-0-up_to_kwh": "50.25"}, "Use at most 1 decimal places."),
        ({"blocks-0-rate": ""}, "Enter the rate of this block."),
        ({"taxes-0-rate": "150"}, "The largest value is 100."),
        # Money fields read the currency's own decimals (KES has 2).
        ({"charges-0-amount": "10.0001"}, "Use at most 2 decimal places."),
        ({"charges-0-amount": "10.001"}, "Use at most 2 decimal places."),
        ({"charges-0-name": "a\u202eb"}, "Remove the text-direction control characters."),
        ({"debt_enabled": "on", "debt_rate": ""}, "Enter the share of each payment"),
    ],
)
def test_input_refused_at_the_edge_is_shown_beside_the_field(
    world: World, change: dict[str, str], shown: str
) -> None:
    data = _editor(residential_spec())
    data.update(change)
    before = snapshot()
    response = _new(world, data)
    assert response.status_code == 200
    assert shown in response.content.decode()
    assert snapshot() == before


def test_add_a_row_redraws_what_was_typed_and_saves_nothing(world: World) -> None:
    data = _editor(residential_spec())
    data["blocks-0-rate"] = "13.25"
    data["add"] = "taxes"
    before = snapshot()
    response = _new(world, data)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="taxes-TOTAL_FORMS" value="3"' in body
    assert 'name="blocks-0-rate" value="13.25"' in body
    assert "need attention" not in body
    assert snapshot() == before


def test_a_forged_row_count_is_capped_and_refused(world: World) -> None:
    data = _editor(residential_spec())
    data["blocks-TOTAL_FORMS"] = "5000"
    before = snapshot()
    response = _new(world, data)
    assert response.status_code == 200
    assert response.content.decode().count('name="blocks-') < 200
    assert snapshot() == before


def test_the_author_edits_a_draft_and_a_rejected_version_through_the_form(world: World) -> None:
    draft = world.north.draft
    data = _editor(draft.spec, draft.notes)
    data["blocks-0-rate"] = "12.75"
    client = client_for(world.maker)
    response = client.post(f"/tariff-versions/{draft.pk}/edit/", data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.spec["energy"]["blocks"][0]["rate"] == "12.75"
    tariff_services.submit_tariff_version(actor=world.maker, version=draft)
    tariff_services.reject_tariff_version(actor=world.checker, version=draft, reason="Too dear")
    data["blocks-0-rate"] = "12.5"
    response = client.post(f"/tariff-versions/{draft.pk}/edit/", data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT
    assert draft.spec["energy"]["blocks"][0]["rate"] == "12.50"


def test_a_submitted_version_cannot_be_edited_through_the_form(world: World) -> None:
    draft = world.north.draft
    tariff_services.submit_tariff_version(actor=world.maker, version=draft)
    data = _editor(draft.spec)
    before = snapshot()
    response = client_for(world.maker).post(f"/tariff-versions/{draft.pk}/edit/", data)
    assert response.status_code == 302
    assert snapshot() == before


def test_allowances_for_unknown_categories_are_kept(world: World) -> None:
    spec = residential_spec(fbe_kwh={"residential": "50", "pensioner": "10"})
    draft = tariff_services.create_tariff_draft(
        actor=world.maker, tariff=world.north.tariff, spec=spec
    )
    editor = TariffEditor.from_spec("KES", draft.spec)
    assert editor.extra_fbe == {"pensioner": "10"}
    data = form_data(editor)
    data["fbe_residential"] = "40"
    response = client_for(world.maker).post(f"/tariff-versions/{draft.pk}/edit/", data)
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.spec["fbe_kwh"] == {"pensioner": "10", "residential": "40"}
