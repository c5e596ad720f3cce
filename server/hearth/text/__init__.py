"""The text model: documents, line indexes, positions, comments and token estimates. Pure: no LSP."""
