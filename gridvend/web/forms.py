"""Forms for the back-office screens: input parsing only, the rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gridvend.identity.roles import Capability, Role
from gridvend.org.models import Channel, VendingPointStatus
from gridvend.web.fields import PhoneField, TextField

# Long enough for any passphrase; a megabyte of password is work for the hasher, not a secret.
PASSWORD_MAX = 1024


class Bootstrap:
    """Gives every widget Bootstrap's classes, so templates can render fields one by one."""

    def _style(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                widget.attrs.setdefault("class", "form-check-input")
            elif isinstance(widget, forms.Select):
                widget.attrs.setdefault("class", "form-select")
            elif not isinstance(widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
                widget.attrs.setdefault("class", "form-control")


class StyledForm(Bootstrap, forms.Form):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._style()


class LoginForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    password = forms.CharField(
        label=_("Password"), max_length=PASSWORD_MAX, widget=forms.PasswordInput
    )


class TotpCodeForm(forms.Form):
    code = forms.CharField(label=_("Six-digit code"), max_length=10)


# Far above any real password, low enough that nobody feeds the slow hasher megabytes.
PASSWORD_MAX_LENGTH = 1024


class TotpEnrolForm(forms.Form):
    """Proof that it is really the user: the password, and a code from the device they have."""

    password = forms.CharField(
        label=_("Password"), max_length=PASSWORD_MAX_LENGTH, widget=forms.PasswordInput
    )
    code = forms.CharField(
        label=_("Six-digit code from the authenticator app you use now"), max_length=10
    )

    def __init__(self, *args: Any, has_device: bool, **kw: Any) -> None:
        super().__init__(*args, **kw)
        if not has_device:
            del self.fields["code"]


class OrgUnitForm(forms.Form):
    name = TextField(label=_("Name"), max_length=120)
    code = forms.SlugField(label=_("Code"), max_length=40, required=False)


class OrgUnitRenameForm(forms.Form):
    name = TextField(label=_("Name"), max_length=120)


class VendingPointForm(forms.Form):
    name = TextField(label=_("Name"), max_length=120)
    code = forms.SlugField(label=_("Code"), max_length=40, required=False)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices)
    address = TextField(label=_("Address"), max_length=255, required=False)
    ip_allow_list = forms.CharField(
        label=_("Allowed IP addresses"),
        required=False,
        help_text=_("Comma-separated addresses or networks; empty allows any address."),
    )


class VendingPointEditForm(forms.Form):
    name = TextField(label=_("Name"), max_length=120)
    status = forms.ChoiceField(label=_("Status"), choices=VendingPointStatus.choices)
    address = TextField(label=_("Address"), max_length=255, required=False)
    ip_allow_list = forms.CharField(
        label=_("Allowed IP addresses"), required=False, max_length=2000
    )


def _role_choices(max_rank: int) -> list[tuple[str, Any]]:
    from gridvend.identity.roles import RANK

    return [(value, label) for value, label in Role.choices if RANK[value] < max_rank]


class UserForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150)
    full_name = TextField(label=_("Full name"), max_length=150)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = PhoneField(label=_("Phone"), required=False)
    org_unit = forms.TypedChoiceField(label=_("Organisation unit"), coerce=int)
    role = forms.ChoiceField(label=_("Role"))
    capabilities = forms.MultipleChoiceField(
        label=_("Capabilities"),
        choices=Capability.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    password = forms.CharField(
        label=_("Initial password"), max_length=PASSWORD_MAX, widget=forms.PasswordInput
    )

    def __init__(self, *args: Any, units: list[tuple[int, str]], max_rank: int, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["org_unit"].choices = units  # type: ignore[attr-defined]
        self.fields["role"].choices = _role_choices(max_rank)  # type: ignore[attr-defined]


class UserEditForm(UserForm):
    is_active = forms.BooleanField(label=_("Active"), required=False)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        del self.fields["username"]
        del self.fields["password"]


class PasswordForm(forms.Form):
    password = forms.CharField(
        label=_("New password"), max_length=PASSWORD_MAX, widget=forms.PasswordInput
    )
