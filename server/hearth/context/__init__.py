"""Context for the model: syntax (tree-sitter), the repository index, jedi, similar snippets, budgets."""
