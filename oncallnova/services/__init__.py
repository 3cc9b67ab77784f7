"""Services: the things that break, and the integration keys alerts reach them by."""
