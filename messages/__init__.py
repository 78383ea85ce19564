"""Programmes, policy, templates and the outbox: what the bot says, to whom, and when."""
