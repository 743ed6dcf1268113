"""The built-in synthetic building (see :mod:`camposer_core.synthetic.scene`)."""
