"""MNIST-style CSVs: format, reading, the parse cache, the dataset; and your own digit images."""
