"""The demo community's defaults, apart from the generator: the CLI shows them without importing Faker."""

DEFAULT_SEED = 20261102
DEFAULT_MEMBERS = 300
