"""The last step of every request: submit it as a job and file its texts' moderation flags with the job."""
from backend.services.backoffice import moderation
from backend.services.jobs import cache, submission


def submit_checked(user, kind, params, stored, engine, version, cost, flags, texts):
    """Submit a checked request: fingerprinted by `params` (what determines the output), with the paths of its
    `stored` inputs added for the worker; the flags its texts raised are recorded once, with a new job (not
    again for the user's own repeat)."""
    fingerprint = cache.request_key(kind, engine, version, params)
    job = submission.submit(user, kind, {**params, **stored}, fingerprint, engine, cost)
    if not job.repeat:
        moderation.record_flags(flags, user, texts, job_id=job.id)
    return job
