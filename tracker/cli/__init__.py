"""The `tracker` command: `main` builds the command group; one module per command group."""
