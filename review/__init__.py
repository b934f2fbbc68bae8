"""The review app: HR analysts read explained flags, record decisions and see teams under an anonymity rule.

FastAPI with server-rendered Jinja2 pages and server-made SVG charts; everything is served by the app
itself. Users, sessions and the audit trail live in the flag store (`flows.store`).
"""
