"""App configuration for the staff and cashier screens."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "gridvend.web"
    label = "web"
    verbose_name = "Back office"

    def ready(self) -> None:
        # The lists register themselves as export sources when their modules load; the worker
        # never loads the URL map, so they are loaded here for its export jobs too.
        from gridvend.web import views  # noqa: F401
        from gridvend.web.backoffice import (  # noqa: F401
            customers,
            meters,
            partners,
            tariffs,
        )
