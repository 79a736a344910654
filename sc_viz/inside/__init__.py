"""Looking inside a model: per-layer, per-channel quantities (neuron sensitivity)."""
