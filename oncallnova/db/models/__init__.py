"""Every model module, imported so `Base.metadata` knows all tables."""

from oncallnova.db.models import (
    incidents,  # noqa: F401
    oncall,  # noqa: F401
    security,  # noqa: F401
)
from oncallnova.db.models.base import Base

__all__ = ["Base"]
