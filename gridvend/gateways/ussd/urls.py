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


def callback_urls() -> dict[str, str]:
    """The four URLs to register with the aggregator."""
    from django.conf import settings
    from django.urls import reverse

    secret = views.callback_secret()
    return {
        name: settings.PUBLIC_URL + reverse(f"phone:{name}", kwargs={"secret": secret})
        for name in ("ussd", "ussd-events", "sms-inbound", "sms-delivery")
    }
