"""Card providers' endpoints under /wallet-card/."""

from django.urls import path

from gridvend.gateways.wallet import views

app_name = "wallet-card"

urlpatterns = [
    path("<slug:provider>/callback", views.callback, name="callback"),
    path("<slug:provider>/return", views.return_page, name="return"),
    path("sandbox/pay/<str:provider_reference>", views.sandbox_page, name="sandbox-page"),
]
