"""The read API: serves read tables as JSON, the OpenAPI document and Swagger UI."""
