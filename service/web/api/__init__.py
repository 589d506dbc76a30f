"""The JSON API, versioned under /api/v1: one router per resource, every route behind `auth.guard`."""
