"""The network: DSRN's layers, its configurations, the bundled weight files and their
manifest, and ONNX export. Imports only ``files`` and ``cache``."""
