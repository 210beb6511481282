"""One way for tests to sign in: a Django test client past both sign-in steps as a given user."""

from __future__ import annotations

from django.test import Client

from gridvend.identity.models import User


def signed_in(user: User) -> Client:
    """A client signed in as ``user`` with the second factor already passed.

    The middleware holds a session that uses TOTP (an administrator) at the second-factor step
    until ``gv_second_factor`` is set; the sign-in and enrolment tests walk that step for real,
    everything else starts past it, as a person would after signing in.
    """
    return sign_in(Client(), user)


def sign_in(client: Client, user: User) -> Client:
    """Signs ``client`` in as ``user`` past the second factor: also for a client whose session
    a request ended or locked (the hostile walk signs itself back in this way)."""
    client.force_login(user)
    session = client.session
    session["gv_second_factor"] = True
    session.save()
    return client
