"""The portal's URLs, under /portal/."""

from django.urls import path

from gridvend.portal import fault_views, views

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
]

# Fault reports (issue 18 point 6): gridvend/portal/fault_views.py.
urlpatterns += [
    path("faults/", fault_views.fault_list, name="faults"),
    path("faults/new/", fault_views.fault_new, name="fault-new"),
    path("faults/<int:pk>/", fault_views.fault_detail, name="fault"),
]
