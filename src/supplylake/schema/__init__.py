"""Dataset schemas and the values records give them, with no knowledge of the wire.

``types`` the schema of a dataset; ``asc`` the predefined data model; ``custom`` custom schemas;
``rules`` what each field type accepts; ``records`` parsing an event's data; ``validate`` the
send-time check; ``arrow`` the load-time conversion; ``text`` values given as text (CSV cells,
numbers sent as strings); ``timestamps`` timestamp forms; ``errors`` why something is refused.
"""
