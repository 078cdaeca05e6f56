"""Authentication and authorization: bearer tokens and roles per namespace prefix.

No gRPC here: `configd.api.auth` applies these rules to each call.
"""
