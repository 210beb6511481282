"""Authentication backend that counts failures and refuses locked accounts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db import transaction
from django.http import HttpRequest

from gridvend.identity import selectors, services
from gridvend.identity.credentials import check_anyway
from gridvend.identity.locks import lock_user
from gridvend.identity.models import User


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
        found = User.objects.filter(username__iexact=username).values_list("pk", flat=True).first()
        if found is None:
            check_anyway(password)
            return None
        with transaction.atomic(durable=True):
            # "Locked?", the check and the count happen under one row lock, so parallel wrong
            # passwords are counted one after another and no more than the limit are checked.
            # The hasher runs inside the lock: that serialises sign-ins of this one user only.
            user = lock_user(found)
            if user.is_active and not user.is_service_account and not selectors.is_locked(user):
                if user.check_password(password):
                    return user
                services.count_failed_login(user)
                return None
        # No setter: a locked account's hash is not upgraded, and nothing is counted.
        check_anyway(password, user.password)
        return None

    def get_user(self, user_id: int) -> User | None:
        return User.objects.select_related("org_unit").filter(pk=user_id, is_active=True).first()
