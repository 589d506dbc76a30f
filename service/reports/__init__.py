"""Evidence reports: figures, HTML, PDF and the signed, reproducible evidence bundle."""
