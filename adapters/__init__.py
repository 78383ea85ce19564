"""Platform adapters and archive importers: they translate the outside world into kernel events."""
