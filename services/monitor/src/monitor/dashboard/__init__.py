"""The drift dashboard: a live, read-only web page of the closed loop, served by the monitor.

``monitor.dashboard.mount`` gives the monitor's declaration its consumer
(``dashboard_subscription``) and its routes (``mount_routes``) around one
:class:`~monitor.dashboard.feed.DashboardFeed`, whose ``record_predictions`` the monitor
calls for its prediction traffic. (Nothing is imported
here: ``monitor.settings`` imports this package's settings and must stay light.)
"""
