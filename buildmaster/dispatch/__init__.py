"""The dispatcher: jobs chosen, claimed and started on idle builders."""
