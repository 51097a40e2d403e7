"""Operators (admin: block, set a password, reset the TOTP secret) and an operator's own password. Each of
these ends the operator's console sessions at once (services/backoffice/operators.py)."""
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from backend.console.access import page, sign_in
from backend.console.blueprint import bp
from backend.extensions import db
from backend.models import Operator
from backend.services.backoffice import audit, operators


@bp.get("/operators")
@page("operators")
def operators_page():
    return render_template("console/operators.html", operators=operators.listing(), new_secret=None)


def _operator(operator_id):
    operator = db.session.get(Operator, operator_id)
    if operator is None:
        abort(404)
    return operator


@bp.post("/operators/<row_id:operator_id>/block")
@page("operators")
def operator_block(operator_id):
    operator = _operator(operator_id)
    blocked = request.form.get("blocked") == "1"
    if blocked and operator.id == current_user.operator_id:
        flash("不能封禁自己的账号", "error")
        return redirect(url_for("console.operators_page"))
    operators.set_disabled(operator.id, blocked)
    audit.record(current_user.actor, "operator_block" if blocked else "operator_unblock", None,
                 username=operator.username)
    flash(f"已封禁「{operator.username}」，其登录会话已全部失效" if blocked else f"已解封「{operator.username}」", "ok")
    return redirect(url_for("console.operators_page"))


@bp.post("/operators/<row_id:operator_id>/password")
@page("operators")
def operator_password(operator_id):
    operator = _operator(operator_id)
    try:
        operators.set_password(operator.id, request.form.get("password", "")[:256])
    except ValueError:
        flash(f"新密码至少需要 {operators.PASSWORD_MIN} 个字符；密码未修改", "error")
        return redirect(url_for("console.operators_page"))
    audit.record(current_user.actor, "operator_password", None, username=operator.username)
    if operator.id == current_user.operator_id:
        return redirect(url_for("console.login"))  # the admin's own sessions ended too
    flash(f"已为「{operator.username}」设置新密码，其登录会话已全部失效", "ok")
    return redirect(url_for("console.operators_page"))


@bp.post("/operators/<row_id:operator_id>/totp")
@page("operators")
def operator_totp(operator_id):
    operator = _operator(operator_id)
    secret = operators.reset_totp(operator.id)
    audit.record(current_user.actor, "operator_totp_reset", None, username=operator.username)
    if operator.id == current_user.operator_id:
        sign_in(operator)  # keep the admin who reset their own secret signed in, in a fresh session
    db.session.refresh(operator)
    return render_template("console/operators.html", operators=operators.listing(),
                           new_secret=(operator.username, secret, operators.provisioning_uri(operator)))


@bp.get("/password")
@login_required
def own_password():
    return render_template("console/password.html")


@bp.post("/password")
@login_required
def own_password_change():
    operator = db.session.get(Operator, current_user.operator_id)
    new = request.form.get("password", "")[:256]
    if not operators.check_current_password(operator, request.form.get("current", "")[:256]):
        flash("当前密码不正确；密码未修改", "error")
    elif new != request.form.get("confirm", "")[:256]:
        flash("两次输入的新密码不一致；密码未修改", "error")
    else:
        try:
            operators.set_password(operator.id, new)
        except ValueError:
            flash(f"新密码至少需要 {operators.PASSWORD_MIN} 个字符；密码未修改", "error")
        else:
            audit.record(current_user.actor, "operator_password", None, username=operator.username)
            sign_in(operator)  # every other session of theirs has ended; this one goes on in a fresh session
            flash("密码已修改；你在其他地方的登录已全部退出", "ok")
            return redirect(url_for("console.dashboard"))
    return render_template("console/password.html"), 400
