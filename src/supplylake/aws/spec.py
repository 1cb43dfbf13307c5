"""The one place that loads botocore's ``supplychain`` service model."""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.session

SERVICE_NAME = "supplychain"
SIGNING_NAME = "scn"


@cache
def service_model() -> Any:
    """botocore's ServiceModel for AWS Supply Chain (cached for the process)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)
