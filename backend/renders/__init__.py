"""Worker side: turn a job into its result file, one module per job kind. Only the Celery task calls these;
they use the engines and the storage services, never the web tier."""
