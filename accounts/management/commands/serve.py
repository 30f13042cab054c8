import os
import shutil
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve Kriya under gunicorn on 127.0.0.1:$PORT and print what Plane needs (make run)."

    def handle(self, *args, **options):
        base = f"http://127.0.0.1:{settings.PORT}"
        keys = ", ".join(settings.PLANE_API_KEYS) or "(none: set PLANE_API_KEY)"
        self.stdout.write(
            f"Kriya on {base}\n"
            f"  API docs:        {base}/docs\n"
            f"  admin:           {base}/admin/  (create a login with: .venv/bin/python manage.py createsuperuser)\n"
            f"  Plane settings:  KRIYA_BACKEND_URL={base}  KRIYA_API_KEY={keys}\n"
        )
        self.stdout.flush()
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        config = str(settings.BASE_DIR / "gunicorn.conf.py")
        os.execv(gunicorn, [gunicorn, "--config", config, "--bind", f"127.0.0.1:{settings.PORT}", "kriya.wsgi"])
