"""Daily digests: per-channel subscriptions and the clock process that posts each one exactly once.

``commands`` parses ``/attack digest ...``; ``subscriptions`` keeps them; ``schedule`` works out
what is due (IANA zones, DST, catch-up); ``content`` composes the view; ``render`` turns it into
Block Kit; ``runner`` claims, posts and records.
"""
