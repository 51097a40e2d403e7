"""Recharges: a form and a CSV upload, both through the API's own idempotent batch service
(services/backoffice/recharges.py), with the result per line. The same form sent twice shows its first result;
the same lines sent again from a new form within a few minutes (Back, then submit) wait for a confirmation."""
import csv
import io
import json
import time
import uuid

from flask import current_app, flash, render_template, request
from flask_login import current_user

from backend.console.access import page
from backend.console.blueprint import bp
from backend.errors import ApiError
from backend.schemas import ID_MAX
from backend.services.backoffice import api_keys, recharges

CSV_MAX_BYTES = 1024 * 1024
PROBLEMS_SHOWN = 20


@bp.get("/recharges")
@page("recharges")
def recharge_form():
    return _form(uuid.uuid4().hex)


def _form(form_key, status=200, **shown):
    values = {"result": None, "replayed": False, "repeat": None, "lines": "", "reason": "", "amount": "", "rows": [],
              "repeat_minutes": int(recharges.REPEAT_WINDOW.total_seconds() // 60)}
    return render_template("console/recharges.html", form_key=form_key, **{**values, **shown}), status


@bp.post("/recharges")
@page("recharges")
def recharge_submit():
    form_key = request.form.get("form_key", "")[:64] or uuid.uuid4().hex
    try:
        items, places = _lines()
        body = {"items": items, "reason": request.form.get("reason", "")[:500]}
        batch = recharges.parse(body)
        earlier = recharges.recent_same_lines(batch)
        if earlier and earlier["form_key"] != form_key and request.form.get("repeat") != earlier["batch_id"]:
            return _form(uuid.uuid4().hex, 409, reason=batch.reason, repeat={
                **earlier, "minutes": max(1, round((time.time() - earlier["at"]) / 60))},
                lines="\n".join(f"{line.user} {line.amount}" for line in batch.lines))
        record, stored = recharges.claim(api_keys.console_identity().id, f"console:{form_key}",
                                         recharges.request_hash(body))
    except ApiError as error:
        flash(_explain(error), "error")
        return _form(form_key, 400, lines=request.form.get("lines", "")[:200_000],
                     reason=request.form.get("reason", "")[:500], amount=request.form.get("amount", "")[:12])
    replayed = stored is not None
    if stored is None:
        answer = recharges.apply(batch, record.batch_id, actor=current_user.actor, idempotency_key=record.key)
        stored = (200, json.dumps(answer).encode())
        recharges.finish(record, *stored)
        recharges.remember_lines(batch, record.batch_id, form_key, current_user.actor)
    result = json.loads(stored[1])
    return _form(uuid.uuid4().hex, result=result, replayed=replayed, rows=_numbered(batch, places, result))


def _lines():
    """The batch's items and where each came from ("第 3 行", "CSV 第 2 行"): `user amount` (or `user,amount`)
    per line of the text box, and/or a CSV file. A line that is not that is refused here, naming the line, and
    then nothing of the batch is applied."""
    rows = [(f"第 {number} 行", line.replace(",", " ").split())
            for number, line in enumerate(request.form.get("lines", "")[:200_000].splitlines(), 1)]
    upload = request.files.get("csv")
    if upload is not None and upload.filename:
        data = upload.stream.read(CSV_MAX_BYTES + 1)
        if len(data) > CSV_MAX_BYTES:
            raise ApiError("payload_too_large", "CSV 文件不能超过 1 MB")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ApiError("invalid_request", "CSV 文件需为 UTF-8 编码")
        rows += [(f"CSV 第 {number} 行", row) for number, row in enumerate(csv.reader(io.StringIO(text)), 1)]
    items, places, problems = [], [], []
    default = request.form.get("amount", "").strip()[:12]
    for place, row in rows:
        cells = [cell.strip() for cell in row if cell.strip()]
        if not cells or cells[0].startswith("#") or cells[0].lower() in ("user", "openid", "用户"):
            continue
        problem = _line_problem(cells, default)
        if problem:
            problems.append(f"{place}「{' '.join(cells)[:40]}」：{problem}")
            continue
        items.append({"user": cells[0], "amount": int(cells[1] if len(cells) > 1 else default)})
        places.append(place)
    if problems:
        more = f"……共 {len(problems)} 行有误" if len(problems) > PROBLEMS_SHOWN else ""
        raise ApiError("invalid_request", "；".join(problems[:PROBLEMS_SHOWN]) + more + "。本批次未充值任何用户。",
                       "items")
    limit = current_app.config["RECHARGE_MAX_LINES"]
    if not 1 <= len(items) <= limit:
        raise ApiError("invalid_request", f"名单需有 1 到 {limit} 行（每行「用户 次数」），这次有 {len(items)} 行。",
                       "items")
    return items, places


def _line_problem(cells, default):
    """What is wrong with one line's cells (Chinese, for the operator), or None."""
    if len(cells) > 2:
        return f"格式不对：每行应为「用户 次数」两项，这一行有 {len(cells)} 项"
    if len(cells[0]) > ID_MAX:
        return f"用户（openid 或用户 ID）过长，最多 {ID_MAX} 个字符"
    amount = cells[1] if len(cells) > 1 else default
    if not amount:
        return "缺少次数（或在下方填写「未写次数的行统一充值」）"
    if not amount.lstrip("-").isdigit():
        return f"次数「{amount[:12]}」不是整数"
    if not 1 <= int(amount) <= current_app.config["RECHARGE_MAX_AMOUNT"]:
        return f"次数超出范围（{amount[:12]}；应为 1 到 {current_app.config['RECHARGE_MAX_AMOUNT']} 的整数）"
    return None


def _numbered(batch, places, result):
    """The result per line, in the order of the lines: (place, user, succeeded, balance or reason). The service
    reports successes and failures apart, each in line order; a user's first good line is the one that succeeds
    (a later one is a duplicate), and the amounts were checked above, so each line is the next of one list."""
    succeeded, failed, credited, rows = list(result["succeeded"]), list(result["failed_users"]), set(), []
    for place, line in zip(places, batch.lines):
        if succeeded and succeeded[0]["user"] == line.user and line.user not in credited:
            credited.add(line.user)
            entry = succeeded.pop(0)
            rows.append((place, line.user, True, entry["balance"]))
        elif failed:
            rows.append((place, line.user, False, failed.pop(0)["reason"]))
    return rows


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
