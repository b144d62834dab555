"""Settings of the monitor service; every field is read from ``MONITOR_<FIELD>``."""

from pydantic_settings import SettingsConfigDict

from monitor.dashboard.settings import DashboardSettings
from service_kit import ServiceSettings


class MonitorSettings(ServiceSettings, DashboardSettings):
    """Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."""

    model_config = SettingsConfigDict(env_prefix="MONITOR_", extra="forbid", frozen=True)

    service_name: str = "monitor"
    http_port: int = 8705
