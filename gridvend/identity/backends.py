"""Authentication backend that counts failures and refuses locked accounts."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from gridvend.identity import services
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
        user = User.objects.select_related("org_unit").filter(username__iexact=username).first()
        if user is None:
            # Spend the same time as a real check so usernames cannot be probed by timing.
            User().set_password(password)
            return None
        if not user.is_active or services.is_locked(user):
            return None
        if not user.check_password(password):
            services.register_failed_login(user)
            return None
        return user

    def get_user(self, user_id: int) -> User | None:
        return User.objects.select_related("org_unit").filter(pk=user_id, is_active=True).first()
