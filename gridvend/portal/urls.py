"""The portal's URLs, under /portal/."""

from django.urls import path

from gridvend.portal import (
    bill_views,
    fault_views,
    purchase_views,
    usage_views,
    views,
    wallet_views,
)

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login, name="login"),
    path("login/code/", views.login_code, name="login-code"),
    path("logout/", views.logout, name="logout"),
    path("security/", views.security, name="security"),
    path("language/", views.language, name="language"),
    path("sign-up/", views.sign_up, name="sign-up"),
    path("sign-up/code/", views.sign_up_code, name="sign-up-code"),
    path("reset/", views.reset, name="reset"),
    path("reset/code/", views.reset_code, name="reset-code"),
    path("meters/add/", views.add_meter, name="add-meter"),
    path("meters/add/code/", views.add_meter_code, name="add-meter-code"),
    path("buy/", views.buy, name="buy"),
    path("buy/pay/", views.pay, name="pay"),
    path("purchases/<int:pk>/", views.purchase, name="purchase"),
    path("wallet/", wallet_views.wallet_index, name="wallet-index"),
    path("wallet/card/<str:reference>/", wallet_views.card, name="wallet-card"),
    path("wallet/<str:account>/", wallet_views.wallet, name="wallet"),
    path("wallet/<str:account>/statement.pdf", wallet_views.statement_pdf, name="wallet-statement"),
    path("wallet/<str:account>/top-up/", wallet_views.top_up, name="wallet-top-up"),
    path("wallet/<str:account>/top-ups/<int:pk>/", wallet_views.stk, name="wallet-stk"),
    path("wallet/<str:account>/auto-purchase/", wallet_views.auto_purchase, name="wallet-auto"),
    path("wallet/<str:account>/sales/<str:reference>/", wallet_views.sale, name="wallet-sale"),
    path("buy/pay/wallet/", wallet_views.pay, name="wallet-pay"),
    # Token status everywhere (issue 18 point 4): every channel's purchases of my meters.
    path("tokens/", purchase_views.purchases_list, name="tokens"),
    path("tokens/<str:reference>/", purchase_views.token, name="token"),
    path("tokens/<str:reference>/receipt.pdf", purchase_views.receipt_pdf, name="token-pdf"),
    path("tokens/<str:reference>/rejected/", purchase_views.rejected, name="token-rejected"),
    # Usage (issue 18 point 5): purchases and kWh per month.
    path("usage/", usage_views.usage, name="usage"),
    # Postpaid bills (issue 18 point 5).
    path("bills/", bill_views.bills, name="bills"),
    path("bills/<int:pk>/pdf/", bill_views.bill_pdf, name="bill-pdf"),
    path("bills/<str:account>/pay/", bill_views.pay_from_wallet, name="bill-pay"),
    path("bills/<str:account>/paid/<int:pk>/", bill_views.bill_paid, name="bill-paid"),
]

# Fault reports (issue 18 point 6): gridvend/portal/fault_views.py.
urlpatterns += [
    path("faults/", fault_views.fault_list, name="faults"),
    path("faults/new/", fault_views.fault_new, name="fault-new"),
    path("faults/<int:pk>/", fault_views.fault_detail, name="fault"),
]
