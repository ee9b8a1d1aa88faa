"""Course material around the series: exercises and their reference answers, widgets, diagrams, the book and the
course bundle (trained checkpoints and TTT caches packed for a class)."""
