"""pdf: rendered decks printed to A4 PDF by a headless Chromium."""
