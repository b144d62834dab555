"""The embedded mesh launcher: broker + every service under supervisord, one command."""
