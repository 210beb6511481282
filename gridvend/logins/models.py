"""A customer's login to the portal, the meters it may see and buy for, the one-time codes that
prove a meter, and the purchases started from the portal."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from gridvend.customers.models import Customer
from gridvend.meters.models import Meter


class CodePurpose(models.TextChoices):
    SIGN_UP = "sign_up", "sign up"
    ADD_METER = "add_meter", "add a meter"
    RESET = "reset", "password reset"


class CodeChannel(models.TextChoices):
    SMS = "sms", "SMS"
    EMAIL = "email", "e-mail"


class CustomerLogin(models.Model):
    """One person's portal login. The password is hashed with the project's hashers (Argon2
    first); ``phone`` and ``email`` are the contacts a one-time code reached, copied from the
    customer on file when the login was proved, and where reset codes go."""

    username = models.CharField(max_length=60, unique=True)
    password = models.CharField(max_length=128)
    phone = models.CharField(max_length=32, blank=True)
    email = models.EmailField(blank=True)
    language = models.CharField(max_length=10, blank=True)
    is_active = models.BooleanField(default=True)
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    # An authenticator app, if the customer chose one: asked for after the password.
    totp_secret = models.CharField(max_length=64, blank=True)
    totp_confirmed = models.BooleanField(default=False)
    totp_pending_secret = models.CharField(max_length=64, blank=True)
    totp_last_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["username"]

    def __str__(self) -> str:
        return self.username

    @property
    def uses_totp(self) -> bool:
        return bool(self.totp_secret) and self.totp_confirmed


class LinkedMeter(models.Model):
    """A meter a login may see and buy for, proved for the customer it then belonged to: the
    link shows nothing once the meter is installed for another customer."""

    login = models.ForeignKey(CustomerLogin, on_delete=models.CASCADE, related_name="meters")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="+")
    linked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["linked_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["login", "meter"], name="linked_meter_once"),
        ]

    def __str__(self) -> str:
        return f"{self.login_id}:{self.meter_id}"


class OneTimeCode(models.Model):
    """A six-digit code sent to the contact on file. Only its keyed digest is stored; the
    ``public_id`` names it in the browser's session, never in a URL."""

    public_id = models.CharField(max_length=32, unique=True)
    purpose = models.CharField(max_length=20, choices=CodePurpose.choices)
    channel = models.CharField(max_length=10, choices=CodeChannel.choices)
    login = models.ForeignKey(
        CustomerLogin, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    meter = models.ForeignKey(
        Meter, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination = models.CharField(max_length=254)
    digest = models.CharField(max_length=64)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["meter", "created_at"], name="otc_meter_recent")]

    def __str__(self) -> str:
        return f"{self.purpose}:{self.pk}"


class ProofFailure(models.Model):
    """One refused proof (meter number and account number) for a meter number, known or not:
    counted so that account numbers cannot be tried without limit (PORTAL_PROOF_FAILURES_PER_
    HOUR an hour per meter number)."""

    meter_number = models.CharField(max_length=13)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["meter_number", "created_at"], name="proof_failure_recent")]

    def __str__(self) -> str:
        return f"proof failure {self.meter_number}"


class PortalPurchase(models.Model):
    """A buy started from the portal: whose it is, and the STK push that pays for it. The
    request id (one per buy form) makes a second submit answer the first purchase."""

    login = models.ForeignKey(CustomerLogin, on_delete=models.PROTECT, related_name="purchases")
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="+")
    push = models.OneToOneField(
        "mobilemoney.StkPush", on_delete=models.PROTECT, related_name="portal_purchase"
    )
    request_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["login", "request_id"], name="portal_purchase_once"),
        ]

    def __str__(self) -> str:
        return f"portal purchase {self.pk}"


class PortalCardTopUp(models.Model):
    """A card top-up started from the portal's form, claimed before the card provider is asked:
    the request id (one per top-up form) is unique per login, so a double submit, even at once,
    starts one payment at the provider. ``payment`` is empty while the first submit waits for the
    provider; ``page_url`` is where the provider's page is."""

    login = models.ForeignKey(CustomerLogin, on_delete=models.PROTECT, related_name="card_top_ups")
    wallet = models.ForeignKey("wallet.Wallet", on_delete=models.PROTECT, related_name="+")
    request_id = models.CharField(max_length=40)
    provider = models.CharField(max_length=30)
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment = models.OneToOneField(
        "wallet.CardPayment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="portal_top_up",
    )
    page_url = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["login", "request_id"], name="portal_card_top_up_once"),
        ]

    def __str__(self) -> str:
        return f"portal card top-up {self.pk}"


class PortalFault(models.Model):
    """A fault report a customer sent from the portal: whose login sent it, the fault as the
    utility follows it up, and the purchase it is about, if any. The request id (one per report
    form) makes a second submit answer the first report."""

    login = models.ForeignKey(CustomerLogin, on_delete=models.PROTECT, related_name="faults")
    fault = models.OneToOneField(
        "meters.FaultReport", on_delete=models.PROTECT, related_name="portal_report"
    )
    sale = models.ForeignKey(
        "vending.Sale", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request_id = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["login", "request_id"], name="portal_fault_once"),
        ]
        indexes = [models.Index(fields=["login", "created_at"], name="portal_fault_recent")]

    def __str__(self) -> str:
        return f"portal fault {self.pk}"
