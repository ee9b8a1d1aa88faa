"""The paper's tables beside ours: the paper's numbers, the series' tables, the README's results block and the
training-seed spread."""
