"""What operators type and read: rows found by name, tables and JSON, and the
journal of their changes."""
