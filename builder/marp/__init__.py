"""marp: the Marp dialect of Markdown read into slides (markdown-it set-up, directives, themes)."""
