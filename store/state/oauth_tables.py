"""The tables of the Slack SDK's installation and OAuth-state stores, created when missing."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy import Engine, MetaData, inspect
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


def ensure_tables(engine: Engine, metadatas: Sequence[MetaData], attempts: int = 5) -> None:
    """Create the tables of ``metadatas`` if missing.  Several workers or processes start at once
    and may race between "does it exist" and CREATE; the loser sees an error, waits and finds
    the tables."""
    wanted = {t.name for m in metadatas for t in m.sorted_tables}
    for attempt in range(attempts):
        try:
            for metadata in metadatas:
                metadata.create_all(engine, checkfirst=True)
            return
        except DBAPIError as exc:
            if wanted <= set(inspect(engine).get_table_names()):
                return
            if attempt == attempts - 1:
                raise
            log.info("OAuth tables are being created by another process (%s); retrying", type(exc).__name__)
            time.sleep(0.2 * (attempt + 1))
