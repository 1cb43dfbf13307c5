"""How the lake is found from supplylake's settings: the catalog's URL and the warehouse's FileIO.

A warehouse on S3 (``s3://bucket/prefix``) is reached the usual AWS way: the endpoint from
``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, the region from ``AWS_REGION`` or
``AWS_DEFAULT_REGION`` (else the profile's, else ``us-east-1``), and the keys from
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``; without them pyarrow's
S3 client finds credentials itself (``AWS_PROFILE`` and the shared files, container and
instance roles), refreshing temporary ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supplylake.config import Settings


def catalog_uri(settings: Settings) -> str:
    """The SQLAlchemy URL of the Iceberg SQL catalog: the store's own database.

    A PostgreSQL URL becomes ``postgresql+psycopg://...``: SQLAlchemy over psycopg 3, the
    driver the store uses.
    """
    from supplylake.store.urls import sqlalchemy_url

    return sqlalchemy_url(settings.resolved_database_url)


def is_s3(warehouse: str) -> bool:
    return warehouse.split("://", 1)[0].lower() in ("s3", "s3a") if "://" in warehouse else False


def warehouse_properties(warehouse: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """pyiceberg FileIO properties for the warehouse: S3 settings from the AWS variables."""
    if not is_s3(warehouse):
        return {}
    env = os.environ if env is None else env
    props: dict[str, str] = {}
    # The S3-specific variable first: AWS_ENDPOINT_URL may name the supplylake API itself.
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        props["s3.endpoint"] = endpoint
    # Always a region: without one pyiceberg asks AWS where the bucket is.
    props["s3.region"] = (
        env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or _profile_region(env)
    )
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        props["s3.access-key-id"] = env["AWS_ACCESS_KEY_ID"]
        props["s3.secret-access-key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            props["s3.session-token"] = env["AWS_SESSION_TOKEN"]
    return props


def _profile_region(env: Mapping[str, str]) -> str:
    """The region of the AWS profile in use (``AWS_PROFILE``, ``~/.aws/config``), if any."""
    import botocore.session

    try:
        session = botocore.session.Session(profile=env.get("AWS_PROFILE"))
        region = session.get_config_variable("region")
    except Exception:  # a profile that does not exist: the default region
        region = None
    return str(region or "us-east-1")
