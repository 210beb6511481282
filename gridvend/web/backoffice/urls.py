"""URL map of the back-office screens: customers, premises, meters, tariffs, debts, files,
partners and their settlement."""

from django.urls import URLPattern, URLResolver, path

from gridvend.web import views as web_views
from gridvend.web.backoffice import (
    customers,
    meter_actions,
    meters,
    partners,
    settlement,
    tariffs,
    transfer,
)

app_name = "backoffice"

urlpatterns: list[URLPattern | URLResolver] = [
    path("customers/", customers.customer_list, name="customer-list"),
    path("customers/export.<str:fmt>", customers.customer_export, name="customer-export"),
    path("customers/new/", customers.customer_create, name="customer-create"),
    path("customers/<int:pk>/", customers.customer_detail, name="customer-detail"),
    path("customers/<int:pk>/edit/", customers.customer_edit, name="customer-edit"),
    path("customers/<int:pk>/debts/", customers.customer_debts, name="customer-debts"),
    path("customers/<int:pk>/statement/", customers.customer_statement, name="customer-statement"),
    path("customers/<int:pk>/debts/new/", customers.debt_create, name="debt-create"),
    path("premises/", customers.premise_list, name="premise-list"),
    path("premises/export.<str:fmt>", customers.premise_export, name="premise-export"),
    path("premises/new/", customers.premise_create, name="premise-create"),
    path("premises/<int:pk>/", customers.premise_detail, name="premise-detail"),
    path("premises/<int:pk>/edit/", customers.premise_edit, name="premise-edit"),
    path("debts/", customers.debt_list, name="debt-list"),
    path("debts/export.<str:fmt>", customers.debt_export, name="debt-export"),
    path("meters/", meters.meter_list, name="meter-list"),
    path("meters/export.<str:fmt>", meters.meter_export, name="meter-export"),
    path("meters/new/", meters.meter_register, name="meter-register"),
    path("meters/<int:pk>/", meters.meter_detail, name="meter-detail"),
    path("meters/<int:pk>/edit/", meters.meter_edit, name="meter-edit"),
    path("meters/<int:pk>/install/", meters.meter_install, name="meter-install"),
    path(
        "meters/<int:pk>/replace/",
        meter_actions.meter_action,
        {"slug": "replace"},
        name="meter-replace",
    ),
    path(
        "meters/<int:pk>/retire/",
        meter_actions.meter_action,
        {"slug": "retire"},
        name="meter-retire",
    ),
    path(
        "meters/<int:pk>/mark-faulty/",
        meter_actions.meter_action,
        {"slug": "mark-faulty"},
        name="meter-mark-faulty",
    ),
    path(
        "meters/<int:pk>/clear-faulty/",
        meter_actions.meter_action,
        {"slug": "clear-faulty"},
        name="meter-clear-faulty",
    ),
    path("tariffs/", tariffs.tariff_list, name="tariff-list"),
    path("tariffs/export.<str:fmt>", tariffs.tariff_export, name="tariff-export"),
    path("tariffs/new/", tariffs.tariff_create, name="tariff-create"),
    path("tariffs/<int:pk>/", tariffs.tariff_detail, name="tariff-detail"),
    path("tariffs/<int:pk>/compare/", tariffs.tariff_compare, name="tariff-compare"),
    path("tariffs/<int:pk>/versions/new/", tariffs.version_create, name="version-create"),
    path("tariff-versions/<int:pk>/", tariffs.version_detail, name="version-detail"),
    path(
        "tariffs/<int:pk>/versions/new/json/",
        tariffs.version_create_json,
        name="version-create-json",
    ),
    path("tariff-versions/<int:pk>/edit/", tariffs.version_edit, name="version-edit"),
    path(
        "tariff-versions/<int:pk>/edit/json/", tariffs.version_edit_json, name="version-edit-json"
    ),
    path("tariff-versions/<int:pk>/simulate/", tariffs.version_simulate, name="version-simulate"),
    path("imports/", transfer.import_upload, name="import"),
    path("imports/confirm/", transfer.import_confirm, name="import-confirm"),
    path("imports/template-<str:kind>.<str:fmt>", transfer.import_template, name="import-template"),
    path("partners/", partners.partner_list, name="partner-list"),
    path("partners/export.<str:fmt>", partners.partner_export, name="partner-export"),
    path("partners/new/", partners.partner_create, name="partner-create"),
    path("partners/<int:pk>/", partners.partner_detail, name="partner-detail"),
    path("partners/<int:pk>/edit/", partners.partner_edit, name="partner-edit"),
    path("partners/<int:pk>/points/new/", partners.partner_point_add, name="partner-point-add"),
    path("partners/<int:pk>/top-ups/new/", partners.top_up_request, name="top-up-request"),
    path("partners/<int:pk>/statement/", partners.partner_statement, name="partner-statement"),
    path(
        "partners/<int:pk>/statement.<str:fmt>",
        partners.partner_statement_export,
        name="partner-statement-export",
    ),
    path("partners/top-ups/", partners.top_up_list, name="top-up-list"),
    path("partners/top-ups/<int:pk>/decide/", partners.top_up_decide, name="top-up-decide"),
    path("settlement/", settlement.settlement_home, name="settlement"),
    path("settlement/files/<int:pk>/", settlement.settlement_file, name="settlement-file"),
    path(
        "settlement/items/<int:pk>/resolve/",
        settlement.settlement_item_resolve,
        name="settlement-item-resolve",
    ),
    path(
        "settlement/resolutions/<int:pk>/",
        settlement.settlement_resolution_decide,
        name="settlement-resolution",
    ),
    path("vending-points/export.<str:fmt>", web_views.point_export, name="point-export"),
    path("users/export.<str:fmt>", web_views.user_export, name="user-export"),
]
