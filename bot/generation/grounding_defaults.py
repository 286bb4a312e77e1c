"""The grounding check's default thresholds, calibrated by `bench/generation.py` on labelled
examples: Bitext (a supported answer: another answer of the same intent as the context; an
unsupported one: an answer of another intent) for similarity and overlap, then Bitext and
foreign questions answered by an echo of the closest note (supported, and no answer) for the
two relevance thresholds; each the highest recall at >= 97 % precision on the calibration half.
See bench/results/generation.md for the run that chose them; override per bot in
switchboard.yml `generation.grounding`."""

MIN_SIMILARITY = 0.55
MIN_OVERLAP = 0.25
# relevance: the customer's question against the relied-on note's question and against the answer
MIN_NOTE_RELEVANCE = 0.7
MIN_ANSWER_RELEVANCE = 0.4
