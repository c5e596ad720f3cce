"""Inline completion: policy, prompt layout, post-processing and the pipeline (no LSP types)."""
