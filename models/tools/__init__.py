"""Developer tools: sample face crops, the Keras reference maker and the preprocessing measurement."""
