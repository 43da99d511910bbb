"""mnist-cnn: an augmented Keras CNN for MNIST-style CSVs, as a library, a notebook and a command.

Modules, by layer: input files and their caps (files, limits, inflate, errors); CSV data (csv_format,
csv_files, csv_cache, dataset); training (config, model, fused_norm, schedules, devices, train,
run_state, keras_compat); evaluation (evaluate, calibration, plots); saving and serving (model_io,
model_files, predict, litert, export, demo); runs and the command (pipeline, cli_parser, cli,
native_logs); and runtime_setup, the notebook's install into a live Colab runtime. The README's module
table says what each does.
"""

__version__ = "0.1.0"
