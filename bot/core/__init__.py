"""The kernel: events, errors and the clock that every other package stands on."""
