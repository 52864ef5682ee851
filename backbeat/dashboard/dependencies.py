"""What the dashboard's route modules share: the signed-in viewer and the CSRF-checked form
every route declares, and the page a sign-in or an account switch lands on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from backbeat.dashboard.web import checked_form, signed_in
from backbeat.services.lookups import Viewer

ViewerDep = Annotated[Viewer, Depends(signed_in)]
FormDep = Annotated[dict[str, str], Depends(checked_form)]

HOME = "/dashboard/tasks"
