"""Every `hearth` command's implementation; `hearth.cli` only parses arguments and calls these."""
