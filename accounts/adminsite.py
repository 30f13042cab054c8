"""Kriya's admin site: its name, the phone-number login, and the lockout page of django-axes."""

from django.conf import settings
from django.contrib import admin
from django.shortcuts import render

from . import dashboard
from .adminforms import PhoneLoginForm


class KriyaAdminSite(admin.AdminSite):
    site_header = "Kriya administration"
    site_title = "Kriya"
    index_title = "Staff console"
    site_url = "/docs"  # "View site": Kriya has no site of its own, its API docs are the front page
    login_form = PhoneLoginForm
    enable_nav_sidebar = False  # its 300 px are what the users and token lists need at 1400 px

    def index(self, request, extra_context=None):
        return super().index(request, {**dashboard.context(), **(extra_context or {})})  # the front page's charts

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        # axes flags a refused (locked-out) login on the request. Answering here rather than with
        # axes.middleware.AxesMiddleware keeps that middleware off every API request (validate-token's hot path).
        if getattr(request, "axes_locked_out", False):
            return lockout_response(request)
        return response


def lockout_response(request):
    """The page a locked-out login gets instead of the form: a 429 for people, saying for how long."""
    cooloff = settings.AXES_COOLOFF_TIME
    minutes = round(cooloff.total_seconds() / 60) if cooloff else None
    return render(request, "lockout.html", {"failure_limit": settings.AXES_FAILURE_LIMIT, "minutes": minutes}, status=429)
