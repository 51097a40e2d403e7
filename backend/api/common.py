"""The task object of docs/API.md and the answers shared by the endpoints that create or serve jobs.
The HTTP contract says "task" (`task_id`, `/api/v1/tasks`) for what the code calls a job."""
import functools
from datetime import datetime, timezone

from flask import current_app, request

from backend import voice_similarity
from backend.auth import token_auth
from backend.errors import ApiError, input_refused
from backend.extensions import db
from backend.models import Job, isoformat
from backend.ratelimit import job_limit
from backend.schemas import TaskOut, WaitQuery
from backend.services.intake import uploads
from backend.services.jobs import waiting
from backend.services.media import files
from backend.vocabulary import API_KIND_BY_KIND


def job_endpoint(bp, rule, body, request_job, upload_fields, max_bytes_key):
    """A POST endpoint that creates a job, as every one of them is: signed in, rate-limited before the body is
    read, `?wait`, the body (JSON or multipart, read by the service) documented by the schema `body`, the task
    as the answer. The decorated function only names and documents the endpoint (its docstring)."""
    def decorate(view):
        @functools.wraps(view)
        def create(query, _documented):
            fields = uploads.body_fields(upload_fields, current_app.config[max_bytes_key])
            return task_response(request_job(token_auth.current_user, fields), query["wait"])

        for step in (bp.output(TaskOut, status_code=202),
                     bp.input(body, location="json", validation=False, arg_name="_documented"),
                     query_input(bp, WaitQuery),
                     job_limit, bp.auth_required(token_auth), bp.post(rule)):
            create = step(create)
        return create
    return decorate


def query_input(bp, schema):
    """`bp.input(schema, location="query")` as the argument `query`, for a query whose every parameter has a
    default: a request without a query string (most of them) gets the defaults, loaded once, without the schema
    running again."""
    defaults = schema().load({})

    def decorate(view):
        parsed = bp.input(schema, location="query", arg_name="query")(view)

        @functools.wraps(parsed)  # the documentation bp.input annotated
        def answer(*args, **kwargs):
            if request.query_string:
                return parsed(*args, **kwargs)
            return view(*args, query=dict(defaults), **kwargs)
        return answer
    return decorate


def task_response(job, wait):
    """200 with the finished task, 202 with the task to poll; a job rejected for its input is its 4xx."""
    job = waiting.wait(job, wait)
    raise_if_rejected(job)
    return task_answer(job, 200 if job.finished else 202)


def task_answer(job, status=200):
    """The task object as the response itself. `present` builds exactly the fields TaskOut documents, so it is
    sent as it is rather than passed through the schema again (the contract test holds the two together)."""
    response = current_app.json.response({"success": True, **present(job)})
    response.status_code = status  # a Response (not a tuple): APIFlask hands it on without its schema
    return response


def present(job):
    """The task object of API.md, with a freshly signed result URL."""
    status, progress = job.status, job.progress
    if job.parent_id and not job.finished:  # a follower shows the progress of the computation it follows
        leader = db.session.get(Job, job.parent_id)
        if leader is not None and not leader.finished:
            status, progress = leader.status, leader.progress
    task = {
        "task_id": job.id, "kind": API_KIND_BY_KIND.get(job.kind, job.kind), "status": status, "progress": progress,
        "engine": job.engine, "cached": job.cached or job.repeat,
        "cost": job.cost if job.charge in ("held", "captured") and not job.repeat else 0,
        "refunded": job.cost if job.charge in ("released", "refunded") else 0,
        "created_at": isoformat(job.created_at), "finished_at": isoformat(job.finished_at),
        "text": (job.params or {}).get("text") or None, "result": None, "error": None,
    }
    if job.status == "succeeded" and job.result_path:
        url, expires = files.sign_url(job.result_path)
        result = {
            "url": url, "expires_at": isoformat(_from_timestamp(expires)), "mime": job.result_mime,
            "bytes": job.result_bytes, "duration": job.result_duration,
            "width": job.result_width, "height": job.result_height,
        }
        result.update(job.result_meta or {})
        if isinstance(result.get("similarity"), (int, float)):  # read with today's calibration, old results too
            result.update(voice_similarity.describe(result["similarity"]))
        if "parts" in result:  # companion files, each with its own signed URL
            result["parts"] = {name: files.sign_url(files.part_path(job.result_path, name))[0]
                               for name in result["parts"]}
        task["result"] = result
        if job.kind == "tts":
            task["audio_url"] = url
            task["duration"] = job.result_duration
        elif job.kind == "talking":
            task["video_url"] = url
            task["image_url"] = result["parts"]["sticker.gif"]
            task["duration"] = job.result_duration
        elif job.kind == "pack":
            task["zip_url"] = url
        else:
            task["image_url"] = url
    elif job.status in ("failed", "canceled", "deleted", "blocked"):
        task["error"] = {"code": job.error_code or "engine_failed", "message": job.error_message or "",
                         "field": job.error_field}
    return task


def raise_if_rejected(job):
    """A job that failed because of its input answers like bad input would: the 4xx error."""
    if job.status == "failed" and input_refused(job.error_code):
        raise ApiError(job.error_code, job.error_message or "The input was rejected.", job.error_field)


def raise_if_failed(job, default_message):
    """A finished job that did not succeed, for endpoints that answer with the result itself: its own error."""
    if job.finished and job.status != "succeeded":
        raise ApiError(job.error_code or "engine_failed", job.error_message or default_message, job.error_field)


def _from_timestamp(seconds):
    return datetime.fromtimestamp(seconds, timezone.utc)
