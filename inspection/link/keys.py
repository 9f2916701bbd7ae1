"""CURVE identities: every station and review server has its own key pair (DESIGN.md invariant 6).

Key files are ZeroMQ's own certificate format (`zmq.auth`). The server accepts only stations
whose public key file lies in its `stations/` folder. On one PC (the embedded default) both sides
share a keys folder and a new station authorises itself there; on a plant network an operator
copies the public `.key` files, as with SSH host keys.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import zmq.auth

from inspection.errors import ConfigError

SERVER = "review-server"
STATIONS = "stations"


def ensure_keypair(keys_dir: Path, name: str) -> tuple[bytes, bytes]:
    """This process's (public, secret) key, created on first use with the secret readable only by its owner."""
    secret_file = keys_dir / f"{name}.key_secret"
    try:
        if not secret_file.exists():
            keys_dir.mkdir(parents=True, exist_ok=True)
            zmq.auth.create_certificates(keys_dir, name)
            secret_file.chmod(0o600)
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"link keys: cannot create or read {secret_file}: {exc}") from exc
    if secret is None:
        raise ConfigError(f"link keys: {secret_file} holds no secret key; delete it to make a new pair")
    return public, secret


def authorize_station(keys_dir: Path, name: str) -> None:
    """Puts a station's public key where a server sharing this keys folder trusts it."""
    folder = keys_dir / STATIONS
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(keys_dir / f"{name}.key", folder / f"{name}.key")


def load_public(path: Path) -> bytes:
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"link keys: cannot read the public key {path}: {exc}") from exc
    return public
