"""The Slack surface: Bolt app, listeners, OAuth, servers and the manifest."""
