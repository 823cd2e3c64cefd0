"""thinkgate.router: WHEN to think next time (router dataset, features, model, evaluation).

Reserved for the router issue; it will be a pure function of the items table, like
`thinkgate.reports`, and never import `thinkgate.harness`.
"""
