"""Operations shared by the REST API and the CLI (stores, integrations, local data).

The API routers and the CLI commands stay thin: they parse input, call one function here,
and render the result. Validation, tenant scoping and transactions live here once.
"""
