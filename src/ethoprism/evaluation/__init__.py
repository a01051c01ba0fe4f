"""Stage 7: honest metrics, computed with scikit-learn."""
