"""The LSP adapters: framing, transport, lifecycle, and one module per method (pygls lives here only)."""
