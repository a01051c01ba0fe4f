"""Label-free discovery of behaviour motifs from stored embeddings: sequences (per video or per
animal) -> features with temporal context -> a sticky Gaussian HMM with a minimum duration ->
motifs, a merge tree over them, and a saved model that assigns motifs to new videos."""
