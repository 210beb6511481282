"""URL map of the receipts screens."""

from django.urls import URLPattern, URLResolver

app_name = "receipts"

urlpatterns: list[URLPattern | URLResolver] = []
