"""countermap's bot: resolving text, rendering answers, the Slack app, digests and the CLI."""
