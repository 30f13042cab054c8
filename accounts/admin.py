from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.utils import timezone

from .events import log_event
from .models import AuditToken, User
from .phones import InvalidPhoneNumber, normalize_phone


@admin.display(boolean=True, description="still valid")
def still_valid(token: AuditToken) -> bool:
    return token.is_valid()


class AuditTokenInline(admin.TabularInline):
    model = AuditToken
    fields = ["jti", "issued_at", "expires_at", "ip_address", "user_agent", "token_version", still_valid]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    max_num = 0  # read-only: tokens are only ever issued by the API

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


class UserForm(forms.ModelForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_phone_number(self):
        # Stored as E.164 like every API-made user, or register could never find this one.
        try:
            return normalize_phone(self.cleaned_data["phone_number"])
        except InvalidPhoneNumber as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    form = UserForm
    list_display = ["phone_number", "first_name", "last_name", "email", "is_active", "is_staff", "created_at"]
    list_filter = ["is_active", "is_staff", "created_at"]
    search_fields = ["phone_number", "first_name", "last_name", "email"]
    readonly_fields = ["id", "token_version", "created_at", "updated_at", "last_login"]
    fields = ["id", "phone_number", "first_name", "last_name", "email", "is_active", "is_staff", "is_superuser",
              "token_version", "last_login", "created_at", "updated_at"]
    actions = ["revoke_tokens", "deactivate"]
    inlines = [AuditTokenInline]

    @admin.action(description="Revoke all tokens")
    def revoke_tokens(self, request, queryset):
        count = 0
        for user in queryset:
            user.revoke_tokens()
            log_event("admin_revoked", request=request, user=user, admin_id=str(request.user.pk))
            count += 1
        self.message_user(request, f"Revoked all tokens of {count} user(s).", messages.SUCCESS)

    @admin.action(description="Deactivate")
    def deactivate(self, request, queryset):
        # Revoke too: reactivating the user later must not bring their old tokens back.
        count = queryset.update(is_active=False, token_version=F("token_version") + 1, updated_at=timezone.now())
        self.message_user(request, f"Deactivated {count} user(s).", messages.SUCCESS)


@admin.register(AuditToken)
class AuditTokenAdmin(admin.ModelAdmin):
    list_display = ["jti", "user", "issued_at", "expires_at", "ip_address", still_valid]
    list_select_related = ["user"]
    search_fields = ["user__phone_number", "jti"]
    list_filter = ["issued_at"]
    readonly_fields = [f.name for f in AuditToken._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
