"""Gunicorn settings for payment; the same file serves locally and in the container."""

# The hooks: a quit signal must not wedge the worker; the last spans go out on exit.
from servicekit.workers import gunicorn_settings, post_worker_init, worker_exit  # noqa: F401

# Gunicorn reads the settings from this file's globals.
globals().update(gunicorn_settings("payment:create_app()", default_port=8082))
