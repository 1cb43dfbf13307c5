"""The web console at ``/console``: events, datasets, SQL and charts, signed in with an access key."""

from supplylake.console.app import console_app, console_routes

__all__ = ["console_app", "console_routes"]
