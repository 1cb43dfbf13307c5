"""Data integration flows: definitions, source files, SQL, dedupe and the instance buckets."""
