"""Recharges: a form and a CSV upload, both through the API's own idempotent batch service
(services/backoffice/recharges.py), with the result per line."""
import csv
import io
import json
import uuid

from flask import flash, render_template, request
from flask_login import current_user

from backend.console.access import page
from backend.console.blueprint import bp
from backend.errors import ApiError
from backend.services.backoffice import api_keys, recharges

CSV_MAX_BYTES = 1024 * 1024


@bp.get("/recharges")
@page("recharges")
def recharge_form():
    return render_template("console/recharges.html", form_key=uuid.uuid4().hex, result=None, replayed=False)


@bp.post("/recharges")
@page("recharges")
def recharge_submit():
    form_key = request.form.get("form_key", "")[:64] or uuid.uuid4().hex
    try:
        body = {"items": _lines(), "reason": request.form.get("reason", "")[:500]}
        batch = recharges.parse(body)
        record, stored = recharges.claim(api_keys.console_identity().id, f"console:{form_key}",
                                         recharges.request_hash(body))
    except ApiError as error:
        flash(_explain(error), "error")
        return render_template("console/recharges.html", form_key=form_key, result=None, replayed=False), 400
    replayed = stored is not None
    if stored is None:
        answer = recharges.apply(batch, record.batch_id, actor=current_user.actor, idempotency_key=record.key)
        stored = (200, json.dumps(answer).encode())
        recharges.finish(record, *stored)
    result = json.loads(stored[1])
    return render_template("console/recharges.html", form_key=uuid.uuid4().hex, result=result, replayed=replayed)


def _lines():
    """The batch's lines: `user amount` (or `user,amount`) per line of the text box, and/or a CSV file."""
    rows = [line.replace(",", " ").split() for line in request.form.get("lines", "")[:200_000].splitlines()]
    upload = request.files.get("csv")
    if upload is not None and upload.filename:
        data = upload.stream.read(CSV_MAX_BYTES + 1)
        if len(data) > CSV_MAX_BYTES:
            raise ApiError("payload_too_large", "CSV 文件不能超过 1 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError("invalid_request", "CSV 文件需为 UTF-8 编码")
        rows += [row for row in csv.reader(io.StringIO(text))]
    items = []
    for row in rows:
        cells = [cell.strip() for cell in row if cell.strip()]
        if not cells or cells[0].startswith("#") or cells[0].lower() in ("user", "openid", "用户"):
            continue
        amount = cells[1] if len(cells) > 1 else request.form.get("amount", "")
        items.append({"user": cells[0], "amount": int(amount) if str(amount).strip().lstrip("-").isdigit() else amount})
    return items


# The batch service's per-line reasons (English, as the API reports them), as the console shows them.
LINE_REASONS = {"unknown user": "用户不存在", "blocked user": "用户已封禁", "duplicate line": "重复：该用户已在本批次中",
                "amount out of range": "次数超出范围"}


@bp.app_template_filter("line_reason")
def line_reason(reason):
    chinese = next((text for prefix, text in LINE_REASONS.items() if reason.startswith(prefix)), None)
    return f"{chinese}（{reason}）" if chinese else reason


def _explain(error):
    if error.field == "reason":
        return "请填写原因（1–500 字），它会写入审计日志。"
    if error.field == "items" and error.code == "invalid_request":
        return f"充值名单有误：{error.message}"
    return {"idempotency_conflict": "这张表单已经以不同的内容提交过；请刷新页面后重新填写。",
            "idempotency_in_progress": "这批充值正在处理，请几秒后刷新查看结果。"}.get(error.code, error.message)
