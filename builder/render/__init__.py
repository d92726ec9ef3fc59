"""render: a parsed deck as HTML with Marp's DOM, math typeset by MathJax."""
