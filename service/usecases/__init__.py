"""The application layer: what a person can do with Semblance, one module per use case, called by both doors (the
CLI in service/cli, the web in service/web), so an action answers and is audited the same way whichever door it
came through. A door parses, authorises, calls one use case and renders what it returns."""
