"""The Discord live adapter: gateway events in, outbox messages and command replies out.

Nothing here is imported at package level, so the archive importer can share ``uids``
without loading discord.py.
"""
