"""The computations of the experiments that train (`sc-viz transfer`, `sc-viz sweep-lambda`):
fine-tuning with early stopping and a linear probe (`transfer`), saliency smoothness of the
lambda-sweep models (`sweep`), and what several training seeds add to a number (`seeds`).
The CLI commands in `sc_viz.cli` only parse flags, call these and write the files."""
