"""The ``supplylake`` command line."""
