"""The provider callbacks under /mobile/<provider>/<secret>/ (no words Safaricom refuses in a
callback URL: M-PESA, Safaricom, exe, exec, cmd, SQL, query)."""

from django.urls import path

from gridvend.gateways.mobilemoney import views

app_name = "mobilemoney"

BASE = "<slug:provider>/<str:secret>/"

urlpatterns = [
    path(f"{BASE}c2b/validation", views.c2b_validation, name="c2b-validation"),
    path(f"{BASE}c2b/confirmation", views.c2b_confirmation, name="c2b-confirmation"),
    path(f"{BASE}stk/callback", views.stk_callback, name="stk-callback"),
    path(f"{BASE}reversal/result", views.reversal_result, name="reversal-result"),
    path(f"{BASE}reversal/timeout", views.reversal_timeout, name="reversal-timeout"),
]
