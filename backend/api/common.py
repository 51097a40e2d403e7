"""Answer shapes shared by the job-creating endpoints."""
from backend.services import jobs


def task_response(job, wait):
    """200 with the finished task, 202 with the task to poll; a job rejected for its input is its 4xx."""
    job = jobs.wait(job, wait)
    jobs.raise_if_rejected(job)
    return {"success": True, **jobs.present(job)}, 200 if job.finished else 202
