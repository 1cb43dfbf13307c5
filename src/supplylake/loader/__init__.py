"""The ordered loader: the process that applies accepted events to the lake, and its jobs.

``main`` is the process, ``jobs`` the kinds of work it runs and their threads, ``loop`` one pass
of dataset loads (claim a dataset's pending events, apply them, record the outcomes), ``apply``
one batch into its Iceberg table exactly once, ``maintenance`` compaction and snapshot expiry,
``leases`` the names loaders share the work under.
"""
