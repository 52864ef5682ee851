"""The HTTP edge: app factory, auth, validation and thin routes over the services."""
