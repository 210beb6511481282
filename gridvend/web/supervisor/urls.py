"""URL map of the supervisor screens (mounted under /supervisor/)."""

from django.urls import path

from gridvend.web.supervisor import shifts, views

app_name = "supervisor"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reversals/request/", views.request_reversal, name="request-reversal"),
    path("reversals/<int:pk>/approve/", views.approve_reversal, name="approve-reversal"),
    path("reversals/<int:pk>/reject/", views.reject_reversal, name="reject-reversal"),
    path("free-issue/", views.free_issue, name="free-issue"),
    path(
        "free-issue-requests/<int:pk>/",
        views.free_issue_request_detail,
        name="free-issue-request",
    ),
    path(
        "free-issue-requests/<int:pk>/approve/",
        views.approve_free_issue,
        name="approve-free-issue",
    ),
    path(
        "free-issue-requests/<int:pk>/reject/",
        views.reject_free_issue,
        name="reject-free-issue",
    ),
    path("engineering-tokens/", views.engineering_token, name="engineering-token"),
    path("key-change/", views.key_change, name="key-change"),
    path("meter-status/", views.meter_status, name="meter-status"),
    path("faults/", views.fault_list, name="fault-list"),
    path("faults/new/", views.fault_create, name="fault-create"),
    path("faults/<int:pk>/", views.fault_detail, name="fault-detail"),
    path("shifts/", shifts.shift_list, name="shift-list"),
    path("shifts/banking-slip/", shifts.banking_slip, name="banking-slip"),
    path("shifts/<int:pk>/", shifts.shift_detail, name="shift-detail"),
    path("shifts/<int:pk>/sign-off/", shifts.shift_sign_off, name="shift-sign-off"),
    path("shifts/<int:pk>/force-close/", shifts.shift_force_close, name="shift-force-close"),
]
