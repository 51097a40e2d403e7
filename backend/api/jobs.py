"""Tasks: read, list, cancel, with an optional wait for completion."""
from apiflask import APIBlueprint

from backend.api.common import present, query_input, task_answer
from backend.auth import token_auth
from backend.schemas import TaskListOut, TaskListQuery, TaskOut, WaitQuery
from backend.services.jobs import lifecycle, lookup, waiting
from backend.vocabulary import KIND_BY_API_KIND

bp = APIBlueprint("tasks", __name__, url_prefix="/api/v1", tag="Tasks")


@bp.get("/tasks/<task_id>")
@bp.auth_required(token_auth)
@query_input(bp, WaitQuery)
@bp.output(TaskOut)
def get_task(task_id, query):
    """A task of the user's; `?wait=N` holds the request until it finishes or N s pass."""
    return task_answer(waiting.wait(lookup.get_owned(token_auth.current_user, task_id), query["wait"]))


@bp.delete("/tasks/<task_id>")
@bp.auth_required(token_auth)
@bp.output(TaskOut)
def cancel_task(task_id):
    """Cancel a task that has not started; a started or finished task is returned as it is."""
    return task_answer(lifecycle.cancel(lookup.get_owned(token_auth.current_user, task_id)))


@bp.get("/tasks")
@bp.auth_required(token_auth)
@query_input(bp, TaskListQuery)
@bp.output(TaskListOut)
def list_tasks(query):
    """The user's tasks, newest first; pass `next` as `before` for the next page."""
    kind = KIND_BY_API_KIND.get(query["kind"], query["kind"])
    found, next_cursor = lookup.list_for(token_auth.current_user, kind, query["limit"], query["before"])
    return {"success": True, "tasks": [present(job) for job in found], "next": next_cursor}
