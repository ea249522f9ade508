"""Monitoring generated from the manifest: Prometheus scrape config, alert rules, dashboard.

prometheus.py   prometheus.yml (gateway, TF Serving, TorchServe targets) + alert rules
dashboard.py    the Grafana dashboard (one JSON document, committed under monitoring/)
server.py       the local Prometheus process of `tandem up --monitoring`
"""

from tandem.monitoring.prometheus import alert_rules, scrape_config

__all__ = ["alert_rules", "scrape_config"]
