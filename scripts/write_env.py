"""Write a local .env with freshly generated secrets (make run / make test do this when there is none).

An existing .env is never overwritten; a variable a newer Kriya needs (the OpenID Connect signing key) is
added to it if missing. `write_env.py --oidc-key` prints a fresh signing key on one line.
"""

import secrets
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def rsa_private_key_pem() -> str:
    """A fresh 2048-bit RSA key as PEM on one line (\\n for the line breaks): what .env can hold."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode().strip().replace("\n", "\\n")


def generated() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "PLANE_API_KEY": secrets.token_urlsafe(32),
        "OIDC_RSA_PRIVATE_KEY": f'"{rsa_private_key_pem()}"',
    }


if sys.argv[1:] == ["--oidc-key"]:  # a fresh key alone, for a deployment's environment (and CI's check --deploy)
    sys.exit(print(rsa_private_key_pem()))
path = Path(sys.argv[1] if len(sys.argv) > 1 else ".env")
if path.exists():
    present = {line.split("=", 1)[0].strip() for line in path.read_text().splitlines() if "=" in line}
    if "OIDC_RSA_PRIVATE_KEY" not in present and "OIDC_RSA_PRIVATE_KEY_FILE" not in present:
        with path.open("a") as env:
            env.write(f"# Added by `make`: the key that signs OpenID Connect ID tokens.\n"
                      f"OIDC_RSA_PRIVATE_KEY={generated()['OIDC_RSA_PRIVATE_KEY']}\n")
        print(f"Added OIDC_RSA_PRIVATE_KEY to {path}.")
    sys.exit(0)
values = generated()
path.write_text(
    "# Written by `make`: local development settings with secrets generated for this checkout.\n"
    "# Every variable is documented in .env.example.\n"
    "DEBUG=True\n"
    + "".join(f"{name}={value}\n" for name, value in values.items())
)
path.chmod(0o600)
print(f"Wrote {path} with fresh secrets.")
