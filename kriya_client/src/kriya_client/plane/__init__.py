"""The kit inside Plane's backend: an adapter (users as Plane's own sign-up makes them), Bearer tokens on Plane's base
API views (KRIYA_PLANE_BEARER), a URLconf and a settings module. Imported only by a Plane that asks for it
(INSTALLED_APPS += ["kriya_client.plane"]); it imports Plane's modules only when used."""
