"""The knowledge base: past support logs, embedded and searched with FAISS."""
