"""Access keys: the root key bootstrap and the key management behind ``supplylake keys``."""

from __future__ import annotations

import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from supplylake.config import Settings
from supplylake.service.clock import now
from supplylake.store.base import AccessKey, Store

_ID_ALPHABET = string.ascii_uppercase + string.digits
PROFILE = "supplylake"


def new_key(
    account_id: str,
    *,
    is_root: bool = False,
    actions: tuple[str, ...] = ("scn:*",),
    instances: tuple[str, ...] = ("*",),
    description: str = "",
) -> AccessKey:
    """A fresh random key pair in AWS's shape (20-character id, 40-character secret)."""
    key_id = "SLAK" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(16))
    secret = secrets.token_urlsafe(30)[:40]
    return AccessKey(
        access_key_id=key_id,
        secret_access_key=secret,
        account_id=account_id,
        created_at=now(),
        is_root=is_root,
        actions=actions,
        instances=instances,
        description=description,
    )


@dataclass(frozen=True)
class Bootstrap:
    key: AccessKey
    created: bool
    credentials_file: Path | None


def ensure_root_key(store: Store, settings: Settings) -> Bootstrap:
    """Make sure a root key exists: the configured one, or one made and written on first start."""
    if settings.access_key_id or settings.secret_access_key:
        if not (settings.access_key_id and settings.secret_access_key):
            raise ValueError(
                "Set both SUPPLYLAKE_ACCESS_KEY_ID and SUPPLYLAKE_SECRET_ACCESS_KEY, or neither."
            )
        existing = store.get_key(settings.access_key_id)
        key = AccessKey(
            access_key_id=settings.access_key_id,
            secret_access_key=settings.secret_access_key,
            account_id=settings.account_id,
            created_at=existing.created_at if existing else now(),
            is_root=True,
            description="root key from SUPPLYLAKE_ACCESS_KEY_ID",
        )
        if existing != key:
            store.put_key(key)
        return Bootstrap(key, existing is None, None)
    for key in store.list_keys():
        if key.is_root and key.revoked_at is None and key.account_id == settings.account_id:
            return Bootstrap(key, False, credentials_path(settings))
    key = new_key(settings.account_id, is_root=True, description="root key made on first start")
    store.put_key(key)
    path = write_credentials(settings, key)
    return Bootstrap(key, True, path)


def credentials_path(settings: Settings) -> Path:
    return settings.data_dir / "credentials"


def write_credentials(settings: Settings, key: AccessKey) -> Path:
    """Write the key in the AWS shared-credentials format, readable by its owner only."""
    path = credentials_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        f"[{PROFILE}]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
        f"region = {settings.region}\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path
