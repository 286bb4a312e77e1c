"""Custom actions of the demo shop, written against rasa-sdk's API so they also run unchanged
on a plain rasa-sdk action server (`switchboard run-actions`)."""
