"""Natural-language understanding: the Classifier protocol and its implementations."""
