"""The page routers, one module per area; quill.webapp.install mounts them in order."""
