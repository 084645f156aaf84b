"""attncli: see self-attention from saved weights, in a terminal, with numpy alone."""

__version__ = "0.1.0"
