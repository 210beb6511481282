"""URL map of the cashier screen."""

from django.urls import path

from gridvend.web.cashier import bills, views, wallets

app_name = "cashier"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("meters/<str:number>/", views.meter, name="meter"),
    path("meters/<str:number>/quote/", views.quote, name="quote"),
    path("meters/<str:number>/sell/", views.sell, name="sell"),
    path("meters/<str:number>/stk/", views.stk_push, name="stk-push"),
    path("stk/<int:pk>/", views.stk_status, name="stk"),
    path("sales/<str:reference>/", views.sale, name="sale"),
    path("reprint/", views.reprint, name="reprint"),
    path("bills/", bills.bills, name="bills"),
    path("bills/payments/<int:pk>/", bills.bill_receipt, name="bill-receipt"),
    path("wallets/", wallets.wallet_top_up, name="wallet-top-up"),
    path("wallets/top-ups/<int:pk>/", wallets.wallet_receipt, name="wallet-receipt"),
    path("shift/", views.shift_view, name="shift"),
    path("shifts/<int:pk>/", views.closed, name="closed"),
    path("lock/", views.lock, name="lock"),
    path("unlock/", views.unlock, name="unlock"),
    path("alive/", views.alive, name="alive"),
]
