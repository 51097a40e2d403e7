"""Media I/O shared by the web tier and the workers: stored files, images, audio, reference recordings, templates, the speech stream."""
