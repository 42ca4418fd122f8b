"""mlops-dedup web console: server-rendered Flask pages over the package's tables (review, dashboard, merges, FK
audit, alerts). create_app builds the application; server.serve runs it under waitress."""

from mlops_dedup.webconsole.app import create_app

__all__ = ["create_app"]
