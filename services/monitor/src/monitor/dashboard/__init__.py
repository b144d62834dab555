"""The drift dashboard: a live, read-only web page of the closed loop, served by the monitor.

``monitor.dashboard.mount.mount_dashboard(app, runtime, settings)`` adds it to the monitor's
app and returns the :class:`~monitor.dashboard.feed.DashboardFeed` whose
``record_predictions`` the monitor calls for its prediction traffic. (Nothing is imported
here: ``monitor.settings`` imports this package's settings and must stay light.)
"""
