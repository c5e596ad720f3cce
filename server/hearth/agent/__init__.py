"""Chat and repository edits: context, conversations, the edit agent, validation, apply and undo."""
