"""Users (search, balance, ledger, jobs, block, delete data) and API keys pages."""
import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from backend.console.access import page
from backend.console.blueprint import bp
from backend.errors import ApiError
from backend.extensions import db
from backend.models import Job, LedgerEntry, User
from backend.services.backoffice import accounts, api_keys, audit, erasure
from backend.services.jobs import ledger as ledger_service

NAME_MAX = 64


@bp.get("/users")
@page("users")
def users():
    query = request.args.get("q", "").strip()[:NAME_MAX]
    found = []
    if query:
        found = db.session.scalars(sa.select(User).where(sa.or_(
            User.id == query, User.openid == query, User.id.startswith(query, autoescape=True),
            User.openid.startswith(query, autoescape=True))).order_by(User.created_at.desc()).limit(50)).all()
    else:
        found = db.session.scalars(sa.select(User).order_by(User.created_at.desc()).limit(20)).all()
    return render_template("console/users.html", users=found, query=query)


@bp.get("/users/<user_id>")
@page("users")
def user_detail(user_id):
    user = db.session.get(User, user_id[:NAME_MAX])
    if user is None:
        abort(404)
    ledger = db.session.scalars(sa.select(LedgerEntry).where(LedgerEntry.user_id == user.id)
                                .order_by(LedgerEntry.id.desc()).limit(30)).all()
    jobs = db.session.scalars(sa.select(Job).where(Job.user_id == user.id).order_by(Job.created_at.desc())
                              .limit(30)).all()
    return render_template("console/user.html", user=user, ledger=ledger, jobs=jobs, paid=ledger_service.paid,
                           may_block=current_user.role in ("admin", "moderator"),
                           may_delete=current_user.role == "admin")


@bp.post("/users/<user_id>/block")
@page("users")
def user_block(user_id):
    if current_user.role not in ("admin", "moderator"):
        abort(403)
    blocked = request.form.get("blocked") == "1"
    reason = request.form.get("reason", "").strip()[:200] or ("控制台封禁" if blocked else "控制台解封")
    try:
        accounts.set_blocked(user_id[:NAME_MAX], blocked, current_user.actor, reason)
        flash("已封禁，立即生效" if blocked else "已解封", "ok")
    except ApiError as error:
        flash(error.message, "error")
    return redirect(url_for("console.user_detail", user_id=user_id[:NAME_MAX]))


@bp.post("/users/<user_id>/erase")
@page("users")
def user_erase(user_id):
    if current_user.role != "admin":
        abort(403)
    user = db.session.get(User, user_id[:NAME_MAX])
    if user is None:
        abort(404)
    if request.form.get("confirm", "") != user.id:
        flash("请输入用户 ID 以确认删除", "error")
        return redirect(url_for("console.user_detail", user_id=user.id))
    erasure.request_erasure(user)
    audit.record(current_user.actor, "erase_user", request.form.get("reason", "")[:200] or None, user_id=user.id)
    flash("已删除该用户的数据（几分钟内完成），账本已匿名保留", "ok")
    return redirect(url_for("console.user_detail", user_id=user.id))


@bp.get("/keys")
@page("keys")
def keys():
    return render_template("console/keys.html", keys=api_keys.listing(), new_key=None)


@bp.post("/keys")
@page("keys")
def keys_create():
    name = request.form.get("name", "").strip()
    scope = request.form.get("scope", "recharge")
    user_ref = request.form.get("user", "").strip()[:NAME_MAX]
    if not 1 <= len(name) <= NAME_MAX or name == api_keys.CONSOLE_KEY_NAME:
        flash(f"名称需为 1-{NAME_MAX} 个字符", "error")
        return redirect(url_for("console.keys"))
    if scope not in api_keys.SCOPES:
        flash("未知的权限", "error")
        return redirect(url_for("console.keys"))
    user_id = None
    if scope == "speech":  # it bills one account's tokens: the operator names it
        try:
            user_id = accounts.find(user_ref).id
        except ApiError:
            flash("语音合成密钥需要填写一个已有用户的 ID 或 openid（费用从该用户余额扣除）", "error")
            return redirect(url_for("console.keys"))
    try:
        record, key = api_keys.create(name, scope, user_id)
    except IntegrityError:  # a duplicate name
        flash(f"已有名为「{name}」的密钥", "error")
        return redirect(url_for("console.keys"))
    audit.record(current_user.actor, "api_key_create", None, name=name, prefix=record.prefix, scope=scope,
                 user_id=user_id)
    return render_template("console/keys.html", keys=api_keys.listing(), new_key=key)


@bp.post("/keys/<row_id:key_id>/revoke")
@page("keys")
def keys_revoke(key_id):
    record = api_keys.revoke(key_id)
    if record is not None:
        audit.record(current_user.actor, "api_key_revoke", None, name=record.name, prefix=record.prefix)
        flash(f"已吊销「{record.name}」", "ok")
    return redirect(url_for("console.keys"))
