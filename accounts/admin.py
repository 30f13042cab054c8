"""The staff console: users found by any phone format, their issued tokens read-only, revoke / deactivate /
reactivate with a confirmation step and a trail (accounts/staff.py)."""

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.templatetags.admin_list import _boolean_icon
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import ngettext
from oauth2_provider.admin import ApplicationAdmin
from oauth2_provider.models import Application

from . import staff
from .adminforms import KriyaUserChangeForm, KriyaUserCreationForm
from .models import AuditToken, Session, User
from .phones import find_phone

RECENT_TOKENS = 20  # shown on a user's page; the token list has them all
RECENT_SESSIONS = 20  # likewise; the session list has them all


def compact(moment) -> str:
    """2026-11-26 01:07 UTC: a list column narrow enough for every column to fit at 1400 px."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


@admin.display(boolean=True, description="still valid")
def still_valid(token: AuditToken) -> bool:
    return token.is_valid()


class PhoneSearchMixin:
    """Search typed as a phone number in any format finds exactly that E.164 number; other text is searched
    word by word as usual (names, emails, part of a number)."""

    phone_search_field = "phone_number"

    def get_search_results(self, request, queryset, search_term):
        phone = find_phone(search_term, settings.ADMIN_PHONE_REGION)
        if phone is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(**{self.phone_search_field: phone}), False


@admin.register(User)
class UserAdmin(PhoneSearchMixin, BaseUserAdmin):
    form = KriyaUserChangeForm
    add_form = KriyaUserCreationForm
    change_form_template = "admin/accounts/user/change_form.html"
    list_display = ["phone_number", "name", "email", "is_active", "is_staff", "token_count", "last_token_issued",
                    "token_version", "created"]
    list_display_links = ["phone_number"]
    list_filter = ["is_active", "is_staff", "is_superuser", "groups", "created_at"]
    search_fields = ["phone_number", "first_name", "last_name", "email"]
    ordering = ["-created_at"]
    readonly_fields = ["id", "token_version", "device_sessions", "issued_tokens", "created_at", "updated_at", "last_login"]
    fieldsets = [
        (None, {"fields": ["id", "phone_number", "password"]}),
        ("Personal info", {"fields": ["first_name", "last_name", "email"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Sessions", {"fields": ["device_sessions"]}),
        ("Tokens", {"fields": ["token_version", "issued_tokens"]}),
        ("Important dates", {"fields": ["last_login", "created_at", "updated_at"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["phone_number", "first_name", "last_name", "email",
                                                "usable_password", "password1", "password2"]}),
    ]
    filter_horizontal = ["groups", "user_permissions"]
    actions = ["revoke_tokens", "deactivate", "reactivate"]
    inlines = []

    def get_queryset(self, request):
        # Two correlated subqueries on the (user, -issued_at) index, computed for the page's rows only.
        tokens = AuditToken.objects.filter(user=OuterRef("pk")).order_by().values("user")
        return super().get_queryset(request).annotate(
            token_count=Coalesce(Subquery(tokens.annotate(n=Count("pk")).values("n")), 0),
            last_token_issued=Subquery(tokens.annotate(last=Max("issued_at")).values("last")),
        )

    @admin.display(description="name", ordering="first_name")
    def name(self, user):
        return f"{user.first_name} {user.last_name}".strip()

    @admin.display(description="tokens", ordering="token_count")
    def token_count(self, user):
        return user.token_count

    @admin.display(description="last token issued", ordering="last_token_issued")
    def last_token_issued(self, user):
        return compact(user.last_token_issued)

    @admin.display(description="created", ordering="created_at")
    def created(self, user):
        return compact(user.created_at)

    @admin.display(description="issued tokens")
    def issued_tokens(self, user):
        """The newest tokens as a read-only table: the page stays small and saves however many there are."""
        if user is None or user.pk is None:
            return "-"
        tokens = list(AuditToken.objects.filter(user=user).select_related("user")[:RECENT_TOKENS])
        total = getattr(user, "token_count", None)
        if total is None:
            total = AuditToken.objects.filter(user=user).count()
        if not tokens:
            return "None issued yet."
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td></tr>",
            ((token.jti, token.issued_at.strftime("%Y-%m-%d %H:%M:%S"), token.expires_at.strftime("%Y-%m-%d %H:%M:%S"),
              token.ip_address or "-", token.user_agent, Truncator(token.user_agent).chars(40) or "-",
              _boolean_icon(token.is_valid())) for token in tokens),
        )
        link = reverse("admin:accounts_audittoken_changelist") + f"?user__id__exact={user.pk}"
        if total > len(tokens):
            shown = f"The newest {len(tokens)} of {total} tokens."
        else:
            shown = ngettext("%(total)d token.", "All %(total)d tokens.", total) % {"total": total}
        return format_html(
            '<table class="issued-tokens"><thead><tr><th>JTI</th><th>Issued at</th><th>Expires at</th>'
            "<th>IP address</th><th>User agent</th><th>Still valid</th></tr></thead><tbody>{}</tbody></table>"
            '<p>{} <a href="{}">Open them in the token list</a></p>',
            rows, shown, link,
        )

    @admin.display(description="sessions")
    def device_sessions(self, user):
        """The newest sessions, each live one with a revoke link (a confirmation page): one lost phone."""
        if user is None or user.pk is None:
            return "-"
        sessions = list(Session.objects.filter(user=user).order_by("-created_at")[:RECENT_SESSIONS + 1])
        if not sessions:
            return "None yet."
        now = timezone.now()
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td></tr>", (
            (session.device_name or "-", compact(session.created_at), compact(session.last_used_at), session.ip_address or "-",
             session.user_agent, Truncator(session.user_agent).chars(40) or "-", session.state(now),
             format_html('<a href="{}">Revoke</a>', reverse("admin:accounts_session_revoke", args=[session.pk]))
             if session.state(now) == "live" else "")
            for session in sessions[:RECENT_SESSIONS]
        ))
        link = reverse("admin:accounts_session_changelist") + f"?user__id__exact={user.pk}"
        more = f"The newest {RECENT_SESSIONS}." if len(sessions) > RECENT_SESSIONS else ""
        return format_html(
            '<table class="device-sessions"><thead><tr><th>Device</th><th>Signed in</th><th>Last used</th>'
            "<th>IP address</th><th>User agent</th><th>State</th><th></th></tr></thead><tbody>{}</tbody></table>"
            '<p>{} <a href="{}">Open them in the session list</a></p>',
            rows, more, link,
        )

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Save only what the form changed: a stale token_version must not undo a revocation made meanwhile.
        columns = {field.name for field in User._meta.concrete_fields}
        obj.save(update_fields=[name for name in form.changed_data if name in columns] + ["updated_at"])
        if "is_active" in form.changed_data:  # exactly what the Deactivate / Reactivate buttons do
            (staff.reactivate if obj.is_active else staff.deactivate)(request, [obj])

    # Operations: list actions, and buttons on the user's page with a confirmation step.

    OPERATIONS = {
        "revoke": ("Revoke all tokens", "revoke",
                   "Every token the user holds stops working at once. They can log in again."),
        "deactivate": ("Deactivate", "change",
                       "The user can no longer log in, and every token they hold stops working."),
        "reactivate": ("Reactivate", "change",
                       "The user can log in again. Tokens issued before stay revoked."),
    }

    def has_revoke_permission(self, request, obj=None):
        return request.user.has_perm(f"{self.opts.app_label}.revoke_user_tokens")

    # The admin's history (LogEntry) goes with its user's row: a user who made entries is deactivated, never deleted.

    def has_delete_permission(self, request, obj=None):
        if obj is not None and LogEntry.objects.filter(user_id=obj.pk).exists():
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request, queryset):
        keep = queryset.filter(pk__in=LogEntry.objects.values("user_id"))
        if kept := keep.count():
            self.message_user(request, ngettext(
                "%(count)d user has entries in the admin's history and was not deleted: deactivate them instead.",
                "%(count)d users have entries in the admin's history and were not deleted: deactivate them instead.",
                kept) % {"count": kept}, messages.WARNING)
        super().delete_queryset(request, queryset.exclude(pk__in=keep.values("pk")))

    def _perform(self, request, operation, users):
        run = {"revoke": staff.revoke_tokens, "deactivate": staff.deactivate, "reactivate": staff.reactivate}[operation]
        count = run(request, users)
        text = {
            "revoke": ngettext("Revoked all tokens of %(count)d user.", "Revoked all tokens of %(count)d users.", count),
            "deactivate": ngettext("Deactivated %(count)d user.", "Deactivated %(count)d users.", count),
            "reactivate": ngettext("Reactivated %(count)d user.", "Reactivated %(count)d users.", count),
        }[operation]
        self.message_user(request, text % {"count": count}, messages.SUCCESS)

    @admin.action(description="Revoke all tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        self._perform(request, "revoke", queryset)

    @admin.action(description="Deactivate (revokes all tokens)", permissions=["change"])
    def deactivate(self, request, queryset):
        self._perform(request, "deactivate", queryset)

    @admin.action(description="Reactivate", permissions=["change"])
    def reactivate(self, request, queryset):
        self._perform(request, "reactivate", queryset)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        operations = [
            path(f"<path:object_id>/{operation}/", self.admin_site.admin_view(self.operation_view),
                 {"operation": operation}, name="%s_%s_%s" % (*info, operation))
            for operation in self.OPERATIONS
        ]
        return operations + super().get_urls()

    def allowed_operations(self, request, user) -> list[str]:
        allowed = []
        if self.has_revoke_permission(request):
            allowed.append("revoke")
        if self.has_change_permission(request, user):
            allowed.append("deactivate" if user.is_active else "reactivate")
        return allowed

    def operation_view(self, request, object_id, operation):
        user = self.get_object(request, object_id)
        if user is None:
            raise Http404("No such user.")
        title, permission, explanation = self.OPERATIONS[operation]
        allowed = permission == "revoke" and self.has_revoke_permission(request) or (
            permission == "change" and self.has_change_permission(request, user))
        if not allowed:
            raise PermissionDenied
        change_url = reverse("admin:%s_%s_change" % (self.opts.app_label, self.opts.model_name), args=[user.pk])
        if request.method == "POST":
            self._perform(request, operation, [user])
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {user.phone_number}",
            "subtitle": None,
            "opts": self.opts,
            "object": user,
            "operation": operation,
            "operation_title": title,
            "explanation": explanation,
            "back_url": change_url,
        }
        return TemplateResponse(request, "admin/accounts/user/confirm_operation.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        user = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if user is not None:
            info = self.opts.app_label, self.opts.model_name
            extra_context["operations"] = [
                (reverse("admin:%s_%s_%s" % (*info, operation), args=[user.pk]), self.OPERATIONS[operation][0])
                for operation in self.allowed_operations(request, user)
            ]
        return super().change_view(request, object_id, form_url, extra_context)


class RecordAdmin(PhoneSearchMixin, admin.ModelAdmin):
    """Records the API writes (issued tokens, sessions): read-only here, each linked to its user."""

    phone_search_field = "user__phone_number"
    list_select_related = ["user"]
    show_full_result_count = False  # a COUNT(*) over every record ever written on each page is not worth it

    @admin.display(description="user", ordering="user__phone_number")
    def user_link(self, record):
        url = reverse("admin:accounts_user_change", args=[record.user_id])
        return format_html('<a href="{}">{}</a>', url, record.user.phone_number)

    @admin.display(description="user agent")
    def short_user_agent(self, record):
        if not record.user_agent:
            return "-"
        return format_html('<span title="{}">{}</span>', record.user_agent, Truncator(record.user_agent).chars(48))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TokenStateFilter(admin.SimpleListFilter):
    """Valid, expired or revoked, decided in SQL like AuditToken.is_valid() decides it for one token."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("valid", "Valid"), ("expired", "Expired"), ("revoked", "Revoked (before expiry)")]

    def queryset(self, request, queryset):
        now = timezone.now()
        current = Q(token_version=F("user__token_version"), user__is_active=True)
        if self.value() == "valid":
            return queryset.filter(current, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "revoked":
            return queryset.filter(~current, expires_at__gt=now)
        return queryset


@admin.register(AuditToken)
class AuditTokenAdmin(RecordAdmin):
    """Issued tokens, read-only. Never deleted here: retention is `manage.py purge_audit_tokens`."""

    list_display = ["jti", "user_link", "issued", "expires", "ip_address", "short_user_agent", still_valid]
    list_filter = [TokenStateFilter, "issued_at"]
    date_hierarchy = "issued_at"
    search_fields = ["user__phone_number", "jti"]
    readonly_fields = ["jti", "user", "token_version", "issued_at", "expires_at", "ip_address", "user_agent"]

    @admin.display(description="issued at", ordering="issued_at")
    def issued(self, token):
        return compact(token.issued_at)

    @admin.display(description="expires at", ordering="expires_at")
    def expires(self, token):
        return compact(token.expires_at)


class SessionStateFilter(admin.SimpleListFilter):
    """Live, revoked or expired, as Session.state() says for one session."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.live(now)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(Q(expires_at__lte=now) | Q(idle_expires_at__lte=now), revoked_at__isnull=True)
        return queryset


@admin.register(Session)
class SessionAdmin(RecordAdmin):
    """Sign-ins per device, read-only; staff with the revoke permission end one (a lost phone)."""

    list_display = ["device", "user_link", "signed_in", "last_used", "ip_address", "short_user_agent", "state"]
    list_filter = [SessionStateFilter, "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["user__phone_number", "device_name"]
    readonly_fields = ["id", "user", "device_name", "created_at", "last_used_at", "idle_expires_at", "expires_at",
                       "ip_address", "user_agent", "revoked_at", "revoked_reason"]
    exclude = ["refresh_token_hash"]
    actions = ["revoke_sessions"]

    @admin.display(description="device", ordering="device_name")
    def device(self, session):
        return session.device_name or "(unnamed)"

    @admin.display(description="signed in", ordering="created_at")
    def signed_in(self, session):
        return compact(session.created_at)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, session):
        return compact(session.last_used_at)

    @admin.display(description="state")
    def state(self, session):
        return session.state()

    def has_revoke_permission(self, request, obj=None):
        return request.user.has_perm(f"{self.opts.app_label}.revoke_user_tokens")

    @admin.action(description="Revoke the selected sessions", permissions=["revoke"])
    def revoke_sessions(self, request, queryset):
        count = staff.revoke_sessions(request, queryset)
        self.message_user(request, ngettext("Revoked %(count)d session.", "Revoked %(count)d sessions.", count)
                          % {"count": count}, messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view(self.revoke_view)
        return [path("<path:object_id>/revoke/", view, name="accounts_session_revoke"), *super().get_urls()]

    def revoke_view(self, request, object_id):
        if not self.has_revoke_permission(request):
            raise PermissionDenied
        session = self.get_object(request, object_id)
        if session is None:
            raise Http404("No such session.")
        back_url = reverse("admin:accounts_user_change", args=[session.user_id])
        if request.method == "POST":
            self.revoke_sessions(request, [session])
            return HttpResponseRedirect(back_url)
        context = {**self.admin_site.each_context(request), "title": "Revoke session", "subtitle": None,
                   "opts": self.opts, "session": session, "back_url": back_url}
        return TemplateResponse(request, "admin/accounts/session/confirm_revoke.html", context)


class OidcClientAdmin(ApplicationAdmin):
    """OpenID Connect clients (django-oauth-toolkit's Applications), in the words of the README."""

    list_display = ("name", "client_id", "client_type", "skip_authorization", "created")
    list_filter = ("client_type", "skip_authorization")

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        labels = {
            "skip_authorization": ("First-party client", "Your own app: people are not asked to allow it."),
            "redirect_uris": ("Redirect URIs", "Exact callback URLs, one per line; compared character for character."),
            "algorithm": ("ID token signature", "RSA with SHA-2 256 (RS256): relying parties verify it with the JWKS."),
        }
        for name, (label, help_text) in labels.items():
            if name in form.base_fields:
                form.base_fields[name].label, form.base_fields[name].help_text = label, help_text
        return form


admin.site.unregister(Application)  # django-oauth-toolkit's admin, registered before this app's
admin.site.register(Application, OidcClientAdmin)
