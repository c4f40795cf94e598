"""pytest plugin for robust-validate (registered through the pytest11 entry point)."""
