"""Shelf: a tiny stock-keeping library (the project `hearth bench edits` changes)."""
