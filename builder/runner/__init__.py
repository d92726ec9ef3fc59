"""runner: linked snippets run in worker processes, each given its `card`."""
