"""The ordered loader: claim a dataset's pending events, fold them, apply them, record outcomes."""
