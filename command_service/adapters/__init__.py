"""Adapters of the command side's ports (declared in command_service/services/) onto other
parts of the house. They may import `domain`, `read_model` and `configuration`, never the query
service, the projectors or the composition root (`eosc_perf`)."""
