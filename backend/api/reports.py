"""Complaints (举报) about results."""
from apiflask import APIBlueprint

from backend.auth import token_auth
from backend.ratelimit import report_limit
from backend.schemas import ReportIn, ReportOut
from backend.services.intake import reports, uploads

bp = APIBlueprint("reports", __name__, url_prefix="/api/v1", tag="Reports")


@bp.post("/reports")
@bp.auth_required(token_auth)
@report_limit
@bp.input(ReportIn, location="json", validation=False, arg_name="_documented")
@bp.output(ReportOut, status_code=201)
def create_report(_documented):
    """Report a result: your task (job_id) or a result link (media_url); it goes to the review queue. Reporting
    the same result again returns the open report (200)."""
    body = uploads.load(ReportIn, uploads.json_object())  # a bad field is 400 invalid_request, as documented
    item, created = reports.report(token_auth.current_user, body["job_id"], body["media_url"], body["category"],
                                   body["reason"])
    return {"success": True, "report": reports.present(item)}, 201 if created else 200
