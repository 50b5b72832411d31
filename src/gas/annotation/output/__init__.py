"""What the engine writes (the ANN/CSQ/TSV writers move here with the staged layout)."""
