"""What analyze finds out about a task: spectrum-based fault localization, syntax/import errors, code metrics."""
