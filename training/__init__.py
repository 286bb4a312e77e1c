"""Training: reads bot data, writes versioned model artifacts that bot/ only loads."""
