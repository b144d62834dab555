"""The drift dashboard: a live, read-only web page of the closed loop, served by the monitor."""
