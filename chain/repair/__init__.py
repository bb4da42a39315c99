"""Search-based program repair: AST mutation operators at suspicious lines, candidates verified in the sandbox."""
