"""Builds the optional C accelerator for CSV parsing; everything else lives in pyproject.toml.

`optional=True`: where no C compiler is at hand the install still succeeds and
mnist_cnn.data.csv_format falls back to its NumPy parser.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("mnist_cnn.data._fastcsv", ["src/mnist_cnn/data/_fastcsv.c"], optional=True),
    ]
)
