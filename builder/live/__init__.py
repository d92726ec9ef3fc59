"""live: the preview server and the sheet it rebuilds on every save."""
