"""Dataset schemas: the asc data model, custom schemas, and record validation."""
