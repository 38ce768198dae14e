"""likeness: face identity embeddings for studio characters."""
