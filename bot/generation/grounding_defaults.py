"""The grounding check's default thresholds, calibrated by `bench/generation.py` on labelled
Bitext examples (a supported answer: another answer of the same intent as the context; an
unsupported one: an answer of another intent). See bench/results/generation.md for the run that
chose them; override per bot in switchboard.yml `generation.grounding`."""

MIN_SIMILARITY = 0.55
MIN_OVERLAP = 0.25
