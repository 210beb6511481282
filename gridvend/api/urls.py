"""Mounts the partner API: ``/api/v1/`` (its OpenAPI document at ``/api/v1/openapi.json``)."""

from django.urls import path

from gridvend.api.v1 import api

urlpatterns = [path("v1/", api.urls)]
