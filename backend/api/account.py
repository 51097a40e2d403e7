"""Login and the current user."""
from apiflask import APIBlueprint
from apiflask.schemas import FileSchema
from flask import Response

from backend import auth
from backend.api.common import query_input
from backend.auth import token_auth
from backend.models import isoformat
from backend.ratelimit import export_limit, login_limit
from backend.schemas import ErasureOut, LedgerOut, LedgerQuery, LoginIn, LoginOut, MeOut, RefreshIn
from backend.services.backoffice import erasure
from backend.services.jobs import ledger

bp = APIBlueprint("account", __name__, url_prefix="/api/v1", tag="Account")


def present_user(user):
    balance, held = ledger.balances(user.id)
    return {"id": user.id, "balance": balance, "held": held, "created_at": isoformat(user.created_at)}


@bp.post("/auth/login")
@login_limit
@bp.input(LoginIn, arg_name="body")
@bp.output(LoginOut)
def login(body):
    """Exchange a wx.login() code for an access token."""
    user = auth.login(body["code"])
    return {"success": True, **auth.issue_tokens(user), "user": present_user(user)}


@bp.post("/auth/refresh")
@login_limit
@bp.input(RefreshIn, arg_name="body")
@bp.output(LoginOut)
def refresh(body):
    """Trade a refresh token (single use) for a new access token and refresh token."""
    user = auth.refresh(body["refresh_token"])
    return {"success": True, **auth.issue_tokens(user), "user": present_user(user)}


@bp.get("/me/ledger")
@bp.auth_required(token_auth)
@query_input(bp, LedgerQuery)
@bp.output(LedgerOut)
def my_ledger(query):
    """The user's token ledger, newest first; pass `next` as `before` for the next page."""
    entries, next_cursor = ledger.entries(token_auth.current_user, query["limit"], query["before"])
    return {"success": True, "entries": [ledger.present(e) for e in entries], "next": next_cursor}


@bp.get("/me")
@bp.auth_required(token_auth)
@bp.output(MeOut)
def me():
    """The logged-in user and their token balance."""
    return {"success": True, "user": present_user(token_auth.current_user)}


@bp.delete("/me")
@bp.auth_required(token_auth)
@bp.output(ErasureOut, status_code=202)
def delete_me():
    """Delete my account and data: at once the account stops working (logging in again makes a new one);
    within minutes voices, recordings, photos, results and cache entries are erased everywhere. The ledger
    stays, anonymised, for accounting."""
    erasure.request_erasure(token_auth.current_user)
    return {"success": True, "status": "erasing"}


@bp.get("/me/export")
@bp.auth_required(token_auth)
@export_limit
@bp.output(FileSchema(type="string", format="binary"), content_type="application/zip",
           description="A zip: profile.json, voices.json, jobs.json, ledger.json")
def export_me():
    """My data as a zip of JSON documents: profile, voices (with consent records), jobs and ledger."""
    user = token_auth.current_user
    return Response(erasure.export(user), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="voxmoji-{user.id}.zip"'})
