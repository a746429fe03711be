"""ClassPulse capture engine: frames in, one typed record per student per sample out."""

from engine.runtime import defer_pyplot

defer_pyplot()  # before anything imports MediaPipe, whose drawing helpers pull in pyplot
