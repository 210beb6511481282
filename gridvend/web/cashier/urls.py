"""URL map of the cashier screens."""

from django.urls import URLPattern, URLResolver

app_name = "cashier"

urlpatterns: list[URLPattern | URLResolver] = []
