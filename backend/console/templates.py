"""Sticker templates: upload (the face is found by a sticker worker and previewed), enable, disable."""
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from backend import builtin_templates
from backend.console.access import page
from backend.console.blueprint import bp
from backend.errors import ApiError
from backend.services.backoffice import audit
from backend.services.media import templates


@bp.get("/templates")
@page("templates")
def templates_page():
    rows = templates.uploaded()
    previews = {template_id: templates.preview_url(template_id)
                for template_id in [*builtin_templates.TEMPLATES, *(row.id for row in rows)]}
    faces = {row.id: templates.face_preview_url(row.id) for row in rows}
    detecting = any(row.status == "detecting" for row in rows)
    return render_template("console/templates.html", builtin=builtin_templates.TEMPLATES.values(), uploaded=rows,
                           previews=previews, faces=faces, detecting=detecting)


@bp.post("/templates")
@page("templates")
def templates_upload():
    upload = request.files.get("image")
    limit = current_app.config["IMAGE_MAX_BYTES"]  # the API's own limit
    data = upload.stream.read(limit + 1) if upload is not None else b""
    try:
        if not data:
            raise ValueError("请选择一张图片")
        if len(data) > limit:
            raise ValueError(f"图片不能超过 {limit // (1024 * 1024)} MB")
        row = templates.upload(request.form.get("name", "")[:64], request.form.get("tags", "")[:100], data,
                               current_user.username)
    except (ValueError, ApiError) as error:
        flash(f"未上传：{getattr(error, 'message', error)}", "error")
        return redirect(url_for("console.templates_page"))
    audit.record(current_user.actor, "template_upload", None, template_id=row.id, name=row.name)
    flash(f"已上传「{row.name}」，正在检测人脸…", "ok")
    return redirect(url_for("console.templates_page"))


@bp.post("/templates/<template_id>/enabled")
@page("templates")
def templates_toggle(template_id):
    enabled = request.form.get("enabled") == "1"
    try:
        row = templates.set_enabled(template_id[:32], enabled)
    except KeyError:
        flash("没有这个模板", "error")
        return redirect(url_for("console.templates_page"))
    except ValueError as error:
        flash(str(error), "error")
        return redirect(url_for("console.templates_page"))
    audit.record(current_user.actor, "template_enable" if enabled else "template_disable", None, template_id=row.id)
    flash(f"「{row.name}」已{'启用' if enabled else '停用'}", "ok")
    return redirect(url_for("console.templates_page"))
