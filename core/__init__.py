"""The bottom layer: settings, database, Redis, errors, logging and the app factory. Imports nothing above it."""
