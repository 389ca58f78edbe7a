"""Test doubles for selfinstruct: an OpenAI-compatible fake server (``selfinstruct.testing.server``).

Nothing here is imported by the package at run time; the modules are public so that projects
embedding the engine can test against the same server.
"""
