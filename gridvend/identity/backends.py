"""Authentication backend that counts failures and refuses locked accounts."""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import hashers
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest
from django.utils.crypto import get_random_string

from gridvend.identity import services
from gridvend.identity.models import User


@functools.cache
def _stand_in_hash(algorithm: str) -> str:
    return hashers.make_password(get_random_string(32), hasher=algorithm)


def _check_anyway(password: str, encoded: str | None = None) -> None:
    """Pay for one password check whose answer is ignored.

    Every refusal (unknown username, locked or inactive account) then costs what a wrong
    password costs, so response times tell nothing about which of them it was.
    """
    if encoded is None:
        encoded = _stand_in_hash(hashers.get_hasher().algorithm)
    hashers.check_password(password, encoded)


class LockoutAwareBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or password is None:
            return None
        # Stored names are NFKC (see usernames.normalise); a full-width twin finds its account.
        username = User.normalize_username(username)
        user = User.objects.select_related("org_unit").filter(username__iexact=username).first()
        if user is None:
            _check_anyway(password)
            return None
        if not user.is_active or services.is_locked(user):
            # No setter: a locked account's hash is not upgraded, and nothing is counted.
            _check_anyway(password, user.password)
            return None
        if not user.check_password(password):
            services.register_failed_login(user)
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        return User.objects.select_related("org_unit").filter(pk=user_id, is_active=True).first()
