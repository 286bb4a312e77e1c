"""Policies decide how a turn is answered; the first one with a decision wins."""
