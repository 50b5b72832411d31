"""Entrypoints: the web app, the JSON API, the workers and the CLI."""
