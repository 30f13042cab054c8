"""The staff console's forms: users by phone number, Django's own password handling, a phone-aware login."""

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm

from .models import User
from .phones import InvalidPhoneNumber, find_phone, normalize_phone


class PhoneNumberFormMixin:
    def clean_phone_number(self):
        # Stored as E.164 like every API-made user, or register could never find this one.
        typed = self.cleaned_data["phone_number"]
        found = find_phone(typed, settings.ADMIN_PHONE_REGION)
        try:
            return normalize_phone(found or typed)
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None


class KriyaUserCreationForm(PhoneNumberFormMixin, AdminUserCreationForm):
    """Django's add-user form (password twice, or no password for a phone-only user) for Kriya's User."""

    class Meta:
        model = User
        fields = ["phone_number", "first_name", "last_name", "email"]


class KriyaUserChangeForm(PhoneNumberFormMixin, UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


class PhoneLoginForm(AdminAuthenticationForm):
    """The admin login: a staff phone number in any format, and the password."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the phone number and password of a staff account.",
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = "Phone number"
        self.fields["username"].max_length = 32  # room for the separators people type
        self.fields["username"].widget.attrs["maxlength"] = 32
        self.fields["username"].widget.attrs.update(type="tel", placeholder="+1 650 253 0001")

    def clean_username(self):
        typed = self.cleaned_data["username"]
        return find_phone(typed, settings.ADMIN_PHONE_REGION) or typed


def lockout_phone(request, credentials: dict | None) -> str | None:
    """axes' lock key: the normalized phone, so retyping a number in another format does not reset the count."""
    typed = (credentials or {}).get("username") or request.POST.get("username")
    if not typed:
        return None
    return find_phone(typed, settings.ADMIN_PHONE_REGION) or typed.strip()[:255]

