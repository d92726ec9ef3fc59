"""check: every card's claims verified: derivation steps and linked snippets."""
