#!/bin/sh
# Bring the schema up to date, then hand over to the requested cohortbot command.
set -eu
mkdir -p "$HOME/data"
cohortbot migrate
exec cohortbot "$@"
