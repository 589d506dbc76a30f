"""Semblance's front doors: the engine API (`service.engine`), the CLI, and later the HTTP service."""
