"""Behaviour of the API: one module per resource. Handlers speak snake_case domain terms."""
