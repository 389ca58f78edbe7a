"""Test doubles for selfinstruct: an OpenAI-compatible fake server (``selfinstruct.testing.server``),
a model that answers like a real one (``fake_model``) and an audit of a run's instances against
what that model wrote (``instance_audit``).

Nothing here is imported by the package at run time; the modules are public so that projects
embedding the engine can test against the same server.
"""
