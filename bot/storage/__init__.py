"""Conversation stores: the interfaces in base.py, one implementation per module."""
