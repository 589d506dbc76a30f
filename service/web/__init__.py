"""The HTTP service: a FastAPI app over one workspace's engine and the service store (service/store).

`app.create_app` wires it; `api/` holds the versioned JSON API, `pages` the server-rendered web UI, `auth` who may
do what, `limits` the rate and size caps, `uploads` the sniffing and naming of untrusted files, `gate` the one
engine that request threads share, and `jobs` the background runner of batch scans.
"""
