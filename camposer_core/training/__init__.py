"""Training of pose networks: typed YAML config, dataset loading, the training loop,
checkpoints, export and the ``camposer train`` / ``camposer export`` commands.

Import submodules directly (``camposer_core.training.checkpoint`` ...); this package file stays
free of heavy imports so the CLI starts quickly."""
