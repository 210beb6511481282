"""Root URL configuration: the back office; other channels mount here as they are built."""

from django.urls import include, path

urlpatterns = [
    path("", include("gridvend.web.urls")),
    path("", include("gridvend.web.backoffice.urls")),
    path("cashier/", include("gridvend.web.cashier.urls")),
    path("receipts/", include("gridvend.web.receipts.urls")),
    path("supervisor/", include("gridvend.web.supervisor.urls")),
    path("api/", include("gridvend.api.urls")),
    path("prepaidutility/v3/", include("gridvend.gateways.electrum.urls")),
    path("voice/", include("gridvend.gateways.voice.urls")),
    path("billpay/v4/", include("gridvend.gateways.billpay.urls")),
    path("mobile/", include("gridvend.gateways.mobilemoney.urls")),
    path("phone/", include("gridvend.gateways.ussd.urls")),
    path("portal/", include("gridvend.portal.urls")),
    path("wallet-card/", include("gridvend.gateways.wallet.urls")),
    path("station-api/v1/", include("gridvend.gateways.stations.urls")),
]
