"""chatdesk's OpenAI-compatible API: the loaded model, served to other programs.

* :mod:`.schema`: the requests (pydantic) and the OpenAI-style error;
* :mod:`.replies`: the response bodies and the ``usage`` with its energy fields;
* :mod:`.engine_queue`: each request as a job on the one engine thread, with its own stop;
* :mod:`.routes`: the FastAPI app (auth, size limit, errors, logging without content);
* :mod:`.server`: uvicorn on its own thread, started and stopped from the GUI or the CLI;
* :mod:`.headless`: ``chatdesk serve``.

docs/api.md documents the endpoints.
"""
