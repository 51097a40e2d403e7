"""Review queue and word list pages."""
import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from backend.console.access import page
from backend.console.blueprint import bp
from backend.extensions import db
from backend.models import Job, ModerationWord, User
from backend.services.backoffice import audit, moderation, review
from backend.services.jobs import lookup
from backend.services.media import files


@bp.get("/review")
@page("review")
def review_queue():
    kind = request.args.get("kind", "")[:8]
    items = review.open_items(kind or None)
    jobs = {job.id: job for job in db.session.scalars(sa.select(Job).where(
        Job.id.in_([item.job_id for item in items if item.job_id])))} if items else {}
    authors = {item.id: review.author_of(item) for item in items}
    users = {user.id: user for user in db.session.scalars(sa.select(User).where(
        User.id.in_({item.user_id for item in items} | set(authors.values()))))} if items else {}
    previews = {job_id: _preview(job) for job_id, job in jobs.items()}
    return render_template("console/review.html", items=items, jobs=jobs, users=users, authors=authors,
                           previews=previews, kind=kind, counts=review.counts())


def _preview(job):
    """(kind, signed URLs) of a job's result while its file exists: `audio`, `video` (a talking sticker) or
    `images` (a sticker; a pack's stickers)."""
    if not job.result_path or job.status not in ("succeeded", "reviewing") or not files.exists(job.result_path):
        return None
    mime = job.result_mime or ""
    parts = [files.sign_url(files.part_path(job.result_path, name))[0] for name in lookup.parts_of(job.result_meta)]
    if mime.startswith("audio") or mime.startswith("video"):
        return mime.split("/")[0], [files.sign_url(job.result_path)[0]]
    return "images", parts if mime == "application/zip" else [files.sign_url(job.result_path)[0]]


@bp.get("/review/<row_id:item_id>/recording")
@page("review")
def consent_recording(item_id):
    """The consent recording of a voice in the queue, for the moderator to hear next to its sentence."""
    path = review.consent_recording(item_id)
    if path is None:
        abort(404)
    return Response(files.read(path), mimetype="audio/wav", headers={"Cache-Control": "no-store"})


@bp.post("/review/<row_id:item_id>/approve")
@page("review")
def review_approve(item_id):
    try:
        review.approve(item_id, current_user.actor)
        flash(f"#{item_id} 已通过", "ok")
    except KeyError:
        flash(f"没有 #{item_id}", "error")
    return redirect(url_for("console.review_queue", kind=request.args.get("kind", "")[:8]))


@bp.post("/review/<row_id:item_id>/reject")
@page("review")
def review_reject(item_id):
    try:
        review.reject(item_id, current_user.actor, request.form.get("reason", "")[:review.REASON_MAX],
                      block_user=request.form.get("block_user") == "1")
        flash(f"#{item_id} 已驳回，内容已撤回" + ("，作者已封禁" if request.form.get("block_user") == "1" else ""), "ok")
    except KeyError:
        flash(f"没有 #{item_id}", "error")
    return redirect(url_for("console.review_queue", kind=request.args.get("kind", "")[:8]))


@bp.get("/words")
@page("words")
def words():
    rows = db.session.scalars(sa.select(ModerationWord).order_by(ModerationWord.id.desc()).limit(500)).all()
    return render_template("console/words.html", words=rows, actions=moderation.ACTIONS)


@bp.post("/words")
@page("words")
def words_add():
    word, label = request.form.get("word", "").strip(), request.form.get("label", "").strip()
    action = request.form.get("action", "risky")
    try:
        if not 1 <= len(label) <= 32:
            raise ValueError("标签需为 1-32 个字符")
        normalized = moderation.add_word(word, label, action)
    except ValueError as error:
        flash(f"未添加：{error}", "error")
        return redirect(url_for("console.words"))
    audit.record(current_user.actor, "word_add", None, word=word, normalized=normalized, label=label, action=action)
    flash(f"已添加「{word}」", "ok")
    return redirect(url_for("console.words"))


@bp.post("/words/<row_id:word_id>/remove")
@page("words")
def words_remove(word_id):
    row = db.session.get(ModerationWord, word_id)
    if row is not None:
        moderation.remove_word(row.word)
        audit.record(current_user.actor, "word_remove", None, word=row.word)
        flash(f"已删除「{row.word}」", "ok")
    return redirect(url_for("console.words"))
