"""What an exported ONNX graph is, for the code that finds or makes one without importing PyTorch (tomau.backends)
and the code that exports it (tomau.export, which declares each network's tensors in NETWORK_IO)."""

GRAPH_VERSION = 2  # bump when the exported graph changes: cached exports (tomau.backends) are then rebuilt (2: kept optimised)
OPSET = 17
# the generator kinds with an ONNX declaration (tomau.export.NETWORK_IO; tests/test_export.py keeps the two equal):
# a model of another kind (a plugin's family) runs in PyTorch by default
ONNX_KINDS = frozenset({"unet", "resunet", "effunet", "liteunet", "cvae", "dcgan", "fastgan"})
