"""Archive importers (mbox, Slack export, DiscordChatExporter): streaming readers that yield kernel events."""
