"""Celery beat's entry point (`celery -A backend.beat beat`): the Celery app and its schedule, without the
worker's engines, so that the web image (no OpenCV, MediaPipe or torch) runs beat. Beat sends its periodic
tasks by name (backend/celery_app.py); the workers define them."""
from backend import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]
