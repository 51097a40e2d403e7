"""Login and the current user."""
from apiflask import APIBlueprint

from backend import auth
from backend.auth import token_auth
from backend.ratelimit import login_limit
from backend.models import isoformat
from backend.schemas import LedgerOut, LedgerQuery, LoginIn, LoginOut, MeOut
from backend.services import ledger

bp = APIBlueprint("account", __name__, url_prefix="/api/v1", tag="Account")


def present_user(user):
    return {"id": user.id, "balance": user.balance, "held": user.held, "created_at": isoformat(user.created_at)}


@bp.post("/auth/login")
@login_limit
@bp.input(LoginIn, arg_name="body")
@bp.output(LoginOut)
def login(body):
    """Exchange a wx.login() code for an access token."""
    user = auth.login(body["code"])
    token, expires_in = auth.issue_token(user)
    return {"success": True, "access_token": token, "token_type": "Bearer", "expires_in": expires_in,
            "user": present_user(user)}


@bp.get("/me/ledger")
@bp.auth_required(token_auth)
@bp.input(LedgerQuery, location="query", arg_name="query")
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
