"""Every table, the bot's own state included: what migrations and schema checks compare.

Apart from ``store.models`` so that the mapping data's models do not import the bot-state
modules (answering a question never declares those tables)."""

from __future__ import annotations

from sqlalchemy import MetaData

import store.app_state  # declaring the classes registers their tables
import store.state.heartbeats
import store.state.inventory
import store.state.unanswered  # noqa: F401
from store.models import Base


def full_metadata() -> MetaData:
    return Base.metadata
