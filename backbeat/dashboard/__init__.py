"""The dashboard `backbeat serve` shows at `/`: server-rendered pages over the same services
as the API, signed in with an API key. Templates and static files ship inside this package.

Pages: `/` (sign in), `/dashboard/tasks`, `/dashboard/tasks/new`, `/dashboard/tasks/{id}`,
`/dashboard/tasks/{id}/delete`, `/dashboard/runs/{id}`, `/dashboard/account`; JSON for the
pages' scripts: `/dashboard/schedule-preview`, `/dashboard/runs/{id}/status`.
"""

from backbeat.dashboard.routes import router

__all__ = ["router"]
