"""Settings fields of the drift dashboard (a mixin of ``MonitorSettings``)."""

from pydantic import BaseModel, Field


class DashboardSettings(BaseModel):
    """Fields of the dashboard, read with the monitor's ``MONITOR_`` prefix."""

    dashboard_history: int = Field(
        default=500,
        ge=10,
        le=100_000,
        description="Points kept per time series and events kept on the loop's timeline.",
    )
