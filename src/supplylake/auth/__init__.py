"""SigV4 request verification and access grants."""
