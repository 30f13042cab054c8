from django.urls import path

from kriya_client.django import SignInView

from . import views

urlpatterns = [
    path("auth/kriya", SignInView.as_view()),  # the sign-in view: a Kriya token in, a session cookie out
    path("api/me", views.MeView.as_view()),  # KriyaTokenAuthentication (or the session cookie)
    path("api/me-uncached", views.UncachedMeView.as_view()),  # the bench's baseline: Kriya asked each time
    path("api/open", views.OpenView.as_view()),  # the bench's limit: no authentication at all
]
