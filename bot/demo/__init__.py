"""The demo community: a seeded, generated community written as real archives, and the `demo` command."""
