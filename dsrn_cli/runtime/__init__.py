"""Where and how the network runs: the Backend interface and its tile policy, the torch /
OpenVINO / ONNX Runtime engines, the converted-graph cache, backend and precision choice,
the self-ensemble, tiles and strips, and rendering one picture through a backend."""
