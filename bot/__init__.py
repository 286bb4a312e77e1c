"""Switchboard: an open-source customer-service bot speaking Rasa's protocols.

Importing this package is cheap: no ML library is imported until a model is loaded.
"""

__version__ = "0.1.0"
