"""The client address used for IP allow-lists and the audit trail cannot be forged by a header."""

from django.http import HttpRequest
from django.test import RequestFactory, override_settings

from gridvend.web.middleware import client_ip


def _request(remote: str, forwarded: str | None = None) -> HttpRequest:
    request = RequestFactory().get("/")
    request.META["REMOTE_ADDR"] = remote
    if forwarded is not None:
        request.META["HTTP_X_FORWARDED_FOR"] = forwarded
    return request


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_ip(_request("203.0.113.9", "10.20.1.1")) == "203.0.113.9"


@override_settings(TRUSTED_PROXIES=["192.0.2.10/32"])
def test_a_forged_leftmost_entry_is_not_believed() -> None:
    # The client sent "10.20.1.1"; our proxy appended the real address 203.0.113.9.
    assert client_ip(_request("192.0.2.10", "10.20.1.1, 203.0.113.9")) == "203.0.113.9"


@override_settings(TRUSTED_PROXIES=["192.0.2.0/24"])
def test_chains_of_trusted_proxies_are_walked_from_the_right() -> None:
    assert client_ip(_request("192.0.2.10", "198.51.100.7, 192.0.2.11")) == "198.51.100.7"


@override_settings(TRUSTED_PROXIES=["192.0.2.10"])
def test_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_ip(_request("198.51.100.50", "10.20.1.1")) == "198.51.100.50"
