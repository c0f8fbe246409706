"""The librarian: content-addressed file storage with HTTP front ends."""
