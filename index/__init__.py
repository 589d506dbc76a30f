"""Registered works on disk: SQLite registry, content-addressed vault, FAISS search indexes, workspace lock."""
