"""The project's URLs plus the supervisor screens, until the lead mounts them in gridvend.urls."""

from django.urls import URLPattern, URLResolver, include, path

from gridvend.urls import urlpatterns as project

urlpatterns: list[URLPattern | URLResolver] = [
    *project,
    path("supervisor/", include("gridvend.web.supervisor.urls")),
]
