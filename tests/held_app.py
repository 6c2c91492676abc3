"""A served app whose ``/held`` command acks only once the test says so, run by the production
``serve_http`` (gunicorn, the same options) in a subprocess: for what happens to a request in
flight when the server is told to stop.

    python -m tests.held_app PORT RELEASE_FILE
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("held_app")
HOLD_LIMIT_SECONDS = 30.0  # the test releases long before; a stuck test still ends


def held_factory(release: Path) -> Callable[..., Any]:
    def factory(settings: Any, engine: Any, answerer: Any, **kwargs: Any) -> Any:
        from slack_bolt import App

        app = App(process_before_response=True, name="held", **kwargs)

        @app.command("/held")
        def held(ack: Callable[..., None]) -> None:
            log.warning("held command started")
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while not release.exists() and time.monotonic() < deadline:
                time.sleep(0.02)  # polling the test's condition, not standing in for it
            ack("released")

        return app

    return factory


def main() -> None:
    from bot.config import load_settings
    from bot.ops.logs import configure_logging
    from bot.slack.server import serve_http

    port, release = int(sys.argv[1]), Path(sys.argv[2])
    configure_logging("info")
    serve_http(
        load_settings(), host="127.0.0.1", port=port, workers=1, threads=4, factory=held_factory(release)
    )


if __name__ == "__main__":
    main()
