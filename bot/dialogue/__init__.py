"""The dialogue side of a Rasa project: stories, rules, slots, forms and the states the
dialogue policies read. Runtime code: nothing here imports `training/`."""
