"""Operator API: batch recharges with an admin API key and an Idempotency-Key."""
from apiflask import APIBlueprint
from flask import Response, json, request

from backend.errors import ApiError
from backend.schemas import RechargeIn, RechargeOut
from backend.services.backoffice import recharges
from backend.services.backoffice.api_keys import admin_auth
from backend.services.intake import uploads

bp = APIBlueprint("admin", __name__, url_prefix="/api/v1/admin", tag="Admin")


@bp.post("/recharges")
@bp.auth_required(admin_auth)
@bp.input(RechargeIn, location="json", validation=False, arg_name="_documented")
@bp.output(RechargeOut)
@bp.doc(description="Header `Idempotency-Key` is required. Replaying it with the same body returns the stored "
                    "response byte for byte; with a different body, 422 idempotency_conflict; while the first "
                    "request runs, 409 idempotency_in_progress.")
def recharge(_documented):
    """Credit tokens to many users; each line is applied or reported in failed_users."""
    api_key = admin_auth.current_user
    if "recharge" not in api_key.scope.split(","):
        raise ApiError("forbidden", f"API key {api_key.name!r} has scope {api_key.scope!r}, not 'recharge'.")
    body = uploads.json_object()
    batch = recharges.parse(body)
    record, stored = recharges.claim(api_key.id, request.headers.get("Idempotency-Key", "").strip(),
                                     recharges.request_hash(body))
    if stored is None:
        answer = recharges.apply(batch, record.batch_id, actor=f"api-key:{api_key.name}", idempotency_key=record.key)
        stored = (200, json.dumps(answer).encode())
        recharges.finish(record, *stored)
    status, payload = stored
    return Response(payload, status=status, mimetype="application/json")
