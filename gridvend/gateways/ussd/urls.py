"""The phone callbacks under /phone/<secret>/ (give these URLs to Africa's Talking)."""

from django.urls import path

from gridvend.gateways.ussd import views

app_name = "phone"

urlpatterns = [
    path("<str:secret>/ussd", views.session, name="ussd"),
    path("<str:secret>/ussd/events", views.session_event, name="ussd-events"),
    path("<str:secret>/sms/inbound", views.sms_inbound, name="sms-inbound"),
    path("<str:secret>/sms/delivery", views.sms_delivery, name="sms-delivery"),
]
