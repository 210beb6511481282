"""Users of the back office: one organisation unit each, a rung on the role ladder, capabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager
from django.db import models
from django.utils import timezone

from gridvend.identity.roles import ALL_CAPABILITIES, Capability, Role, rank
from gridvend.org.models import OrgUnit

if TYPE_CHECKING:
    from gridvend.audit.changes import AuditedFields


class UserManager(BaseUserManager["User"]):
    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(username__iexact=User.normalize_username(username or ""))


class User(AbstractBaseUser):
    username = models.CharField(max_length=150, unique=True)
    full_name = models.CharField(max_length=150)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    org_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="users")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OPERATOR)
    language = models.CharField(max_length=10, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    totp_secret = models.CharField(max_length=64, blank=True)
    totp_confirmed = models.BooleanField(default=False)
    # A new authenticator waits here until a code from it is confirmed; the device in
    # totp_secret keeps working meanwhile.
    totp_pending_secret = models.CharField(max_length=64, blank=True)
    totp_last_step = models.BigIntegerField(default=0)
    # The account a partner's API requests act as: it sells, but nobody signs in with it and
    # nobody resets its password (identity.backends, services._require_manageable).
    is_service_account = models.BooleanField(default=False)

    objects = UserManager()

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS = ["full_name"]

    audited_fields: ClassVar[AuditedFields] = (
        "username",
        "full_name",
        "org_unit",
        "role",
        "is_active",
        ("capabilities", lambda user: sorted(user.capability_set()) if user.pk else []),
        ("totp", lambda user: user.uses_totp),
    )

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def audit_org_path(self) -> str:
        return self.org_unit.path

    @property
    def rank(self) -> int:
        return rank(self.role)

    @property
    def is_administrator(self) -> bool:
        return self.role == Role.ADMINISTRATOR

    @property
    def is_staff(self) -> bool:
        return False

    @property
    def uses_totp(self) -> bool:
        return bool(self.totp_secret) and self.totp_confirmed

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_capability_cache", None)
        super().refresh_from_db(*args, **kwargs)

    def capability_set(self) -> frozenset[str]:
        """Administrators hold every capability; everyone else what was granted to them."""
        if self.is_administrator:
            return ALL_CAPABILITIES
        cached: frozenset[str] | None = getattr(self, "_capability_cache", None)
        if cached is None:
            cached = frozenset(self.capabilities.values_list("capability", flat=True))
            self._capability_cache = cached
        return cached

    def has_capability(self, capability: str) -> bool:
        return capability in self.capability_set()


class CapabilityGrant(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="capabilities")
    capability = models.CharField(max_length=20, choices=Capability.choices)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "capability"], name="capability_once_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.capability}"
