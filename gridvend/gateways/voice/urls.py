"""The phone-enquiry callbacks under /voice/."""

from django.urls import path

from gridvend.gateways.voice import views

app_name = "voice"

urlpatterns = [
    path("ivr", views.ivr, name="ivr"),
    path("sms", views.sms, name="sms"),
]
