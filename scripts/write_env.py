"""Write a local .env with freshly generated secrets (make run / make test do this when there is none)."""

import secrets
import sys
from pathlib import Path

path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
if path.exists():
    sys.exit(f"{path} exists; not overwriting it.")
path.write_text(
    "# Written by `make`: local development settings with secrets generated for this checkout.\n"
    "# Every variable is documented in .env.example.\n"
    "DEBUG=True\n"
    f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
    f"JWT_SECRET_KEY={secrets.token_urlsafe(48)}\n"
    f"PLANE_API_KEY={secrets.token_urlsafe(32)}\n"
)
path.chmod(0o600)
print(f"Wrote {path} with fresh secrets.")
