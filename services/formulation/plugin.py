"""The formulation service as the runtime sees it."""

from __future__ import annotations

from services.formulation.api import router
from services.formulation.application import FormulationApplication
from services.formulation.case_dates import with_referral_dates
from services.formulation.consumers import consumers
from services.formulation.contracts import REGISTRY
from services.plugin import ServicePlugin
from shared.directory import with_partner_directory

plugin = ServicePlugin(
    name="formulation",
    application=FormulationApplication,
    contracts=REGISTRY,
    routers=(router,),
    consumers=with_partner_directory("formulation", with_referral_dates(consumers)),
)
