"""Operations shared by every process (HTTP server, Socket Mode worker, digest clock, CLI): one
logging set-up with secrets masked, the request context that log lines and metrics carry, and the
Prometheus metrics.  Imports nothing from ``bot.slack`` or ``bot.digest``, so both may use it."""
